package dev.batchrpc.compute.bench;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * A JMH secondary result: floating-point operations in units of 1e9. In throughput mode JMH reports
 * an OPERATIONS counter as a rate, so {@code gflop} reads as GFLOP/s (JMH prints "ops/s").
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.OPERATIONS)
public class Flops {
  /** Floating-point operations done, in units of 1e9. */
  public double gflop;

  @Setup(Level.Iteration)
  public void reset() {
    gflop = 0;
  }
}
