package dev.batchrpc.compute.bench;

import dev.batchrpc.compute.cpu.CpuArray;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.random.Rng;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * CPU SGEMM through {@link CpuBackend#sgemm}: square 128^3 and 1024^3, and the policy's two GEMMs
 * for a batch of 1000 ({@code x W1^T}: m=1000, n=128, k=4; {@code h W2^T}: m=1000, n=2, k=128).
 * The {@code gflop} secondary result is GFLOP/s (2 m n k per call).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules=jdk.incubator.vector"})
public class SgemmBench {

  /** m x n x k of row-major C[m x n] = A[m x k] * op(B); the policy shapes use B transposed. */
  @Param({"128x128x128", "1024x1024x1024", "1000x128x4", "1000x2x128"})
  public String mnk;

  private final CpuBackend backend = new CpuBackend();
  private int m;
  private int n;
  private int k;
  private boolean transB;
  private CpuArray a;
  private CpuArray b;
  private CpuArray c;

  @Setup
  public void setup() {
    String[] s = mnk.split("x");
    m = Integer.parseInt(s[0]);
    n = Integer.parseInt(s[1]);
    k = Integer.parseInt(s[2]);
    transB = m != n; // the policy layers multiply by W^T, stored [out x in]
    Rng rng = new Rng(1);
    a = backend.allocate(m * k);
    b = backend.allocate(k * n);
    c = backend.allocate(m * n);
    rng.nextFloats(a.data(), 0, m * k);
    rng.nextFloats(b.data(), 0, k * n);
    System.err.println("SgemmBench: " + backend.name());
  }

  @Benchmark
  public float sgemm(Flops work) {
    backend.sgemm(false, transB, m, n, k, 1f, a, b, 0f, c);
    work.gflop += 2.0 * m * n * k / 1e9;
    return c.data()[0];
  }
}
