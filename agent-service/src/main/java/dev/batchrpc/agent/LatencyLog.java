package dev.batchrpc.agent;

import java.util.Arrays;

/**
 * Per-request latencies in nanoseconds, appended on one event loop and summarized as percentiles.
 * Not thread-safe: confined to the agent verticle's event loop.
 */
public final class LatencyLog {

  /** Percentiles of a set of latencies, in microseconds. */
  public record Summary(int count, double p50Us, double p90Us, double p99Us, double maxUs) {
    /** The summary of no samples. */
    public static final Summary EMPTY = new Summary(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
  }

  private long[] nanos = new long[1024];
  private int size;

  /** Adds one latency. */
  public void add(long latencyNanos) {
    if (size == nanos.length) {
      nanos = Arrays.copyOf(nanos, size * 2);
    }
    nanos[size++] = latencyNanos;
  }

  /** The summary of everything added since the last drain, then forgets it. */
  public Summary drain() {
    Summary s = summarize(Arrays.copyOf(nanos, size));
    size = 0;
    return s;
  }

  /** Nearest-rank percentiles of {@code samples} (sorted in place). */
  public static Summary summarize(long[] samples) {
    if (samples.length == 0) {
      return Summary.EMPTY;
    }
    Arrays.sort(samples);
    return new Summary(samples.length, rank(samples, 0.50), rank(samples, 0.90), rank(samples, 0.99),
        samples[samples.length - 1] / 1e3);
  }

  private static double rank(long[] sorted, double q) {
    int k = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, k))] / 1e3;
  }
}
