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
 * The parameter server's memory-bound kernels (primary result: calls/s), as GB/s of memory traffic
 * (secondary result {@code gbyte}), beside a
 * plain {@link System#arraycopy} of the parameter vector in the same run (the bandwidth limit).
 * Traffic counted per element of the parameter vector (4-byte floats):
 * <ul>
 *   <li>{@code arraycopy}: read 1, write 1 = 8 bytes;</li>
 *   <li>{@code sgdMomentum}: read params, grad, buf; write params, buf = 20 bytes;</li>
 *   <li>{@code averageAndSgd} (5 trainers): read 5 gradient rows, write the average, read and
 *       write params and buf = 40 bytes.</li>
 * </ul>
 * 23,569,502 is the parameter count of the tutorial-scale model (ResNet-50-like, ~94 MB).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx3g", "--add-modules=jdk.incubator.vector"})
public class OptimizerBench {

  private static final int TRAINERS = 5;

  @Param({"1000000", "23569502"})
  public int params;

  private final CpuBackend backend = new CpuBackend();
  private CpuArray p;
  private CpuArray g;
  private CpuArray buf;
  private CpuArray copyDst;
  private CpuArray stacked;

  @Setup
  public void setup() {
    Rng rng = new Rng(4);
    p = backend.allocate(params);
    g = backend.allocate(params);
    buf = backend.allocate(params);
    copyDst = backend.allocate(params);
    stacked = backend.allocate(TRAINERS * params);
    rng.nextFloats(p.data(), 0, params);
    rng.nextFloats(g.data(), 0, params);
    for (int i = 0; i < params; i++) {
      g.data()[i] -= 0.5f;
    }
    for (int t = 0; t < TRAINERS; t++) {
      System.arraycopy(g.data(), 0, stacked.data(), t * params, params);
    }
    // one first step so later steps use (and keep finite) the momentum buffer
    backend.sgdMomentum(p, g, buf, 1e-3f, 0.9f, true);
  }

  @Benchmark
  public float arraycopy(Traffic work) {
    System.arraycopy(p.data(), 0, copyDst.data(), 0, params);
    work.gbyte += 8.0 * params / 1e9;
    return copyDst.data()[params - 1];
  }

  @Benchmark
  public float sgdMomentum(Traffic work) {
    backend.sgdMomentum(p, g, buf, 1e-3f, 0.9f, false);
    work.gbyte += 20.0 * params / 1e9;
    return p.data()[0];
  }

  @Benchmark
  public float averageAndSgd(Traffic work) {
    backend.averageAndSgd(stacked, TRAINERS, g, p, buf, 1e-3f, 0.9f, false);
    work.gbyte += (TRAINERS + 5.0) * 4.0 * params / 1e9;
    return p.data()[0];
  }
}
