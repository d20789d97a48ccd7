package dev.batchrpc.compute.bench;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.nn.PolicyNet;
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
import org.openjdk.jmh.annotations.TearDown;

/** One agent round on the CPU: {@link PolicyNet#act} (fused forward + sampling) for a batch. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules=jdk.incubator.vector"})
public class PolicyActBench {

  @Param({"1", "10", "100", "1000"})
  public int batch;

  private PolicyNet net;
  private Tensor states;
  private Tensor scale;
  private float[] uniforms;

  @Setup
  public void setup() {
    Rng rng = new Rng(3);
    net = new PolicyNet(new CpuBackend(), PolicyNet.initialParams(rng));
    states = Tensor.zeros(batch, PolicyNet.IN);
    rng.nextFloats(states.data(), 0, states.size());
    scale = Tensor.zeros(batch, PolicyNet.HIDDEN);
    rng.dropoutScales(scale.data(), 0, scale.size(), PolicyNet.DROPOUT);
    uniforms = new float[batch];
    rng.nextFloats(uniforms, 0, batch);
  }

  @TearDown
  public void tearDown() {
    net.close();
  }

  @Benchmark
  public PolicyNet.Act act() {
    return net.act(states, scale, uniforms);
  }
}
