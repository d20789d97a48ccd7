package dev.batchrpc.compute.bench;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * A JMH secondary result: bytes moved to or from memory in units of 1e9. In throughput mode JMH
 * reports an OPERATIONS counter as a rate, so {@code gbyte} reads as GB/s (JMH prints "ops/s").
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.OPERATIONS)
public class Traffic {
  /** Bytes moved, in units of 1e9. */
  public double gbyte;

  @Setup(Level.Iteration)
  public void reset() {
    gbyte = 0;
  }
}
