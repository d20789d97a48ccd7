package dev.batchrpc.agent;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Per-request latencies in nanoseconds, appended on one event loop and summarized as percentiles.
 *
 * <p>Bounded: up to {@link #CAPACITY} latencies since the last drain are all kept (the percentiles
 * are exact); beyond that a uniform random sample of {@code CAPACITY} of them is kept (reservoir
 * sampling), so the percentiles are estimates and the memory stays at most {@code 8 * CAPACITY}
 * bytes however long the agent runs without a drain (a soak run found the unbounded log growing
 * by 8 bytes per action).
 *
 * <p>Not thread-safe: confined to the agent verticle's event loop.
 */
public final class LatencyLog {

  /** The most latencies kept between drains: 1 MB, exact for every benchmark and demo run. */
  public static final int CAPACITY = 1 << 17;

  /** Percentiles of a set of latencies, in microseconds; {@code count} is every latency added. */
  public record Summary(int count, double p50Us, double p90Us, double p99Us, double maxUs) {
    /** The summary of no samples. */
    public static final Summary EMPTY = new Summary(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
  }

  private final int capacity;
  private long[] nanos;
  /** Latencies added since the last drain (kept or not). */
  private int count;
  private long max;
  /** Fixed seed: the sample, like everything else in a run, does not depend on the clock. */
  private final SplittableRandom random = new SplittableRandom(0x1A7E_2C1L);

  /** A log of at most {@link #CAPACITY} kept latencies. */
  public LatencyLog() {
    this(CAPACITY);
  }

  /** A log keeping at most {@code capacity} latencies (tests use a small one). */
  LatencyLog(int capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
    }
    this.capacity = capacity;
    this.nanos = new long[Math.min(1024, capacity)];
  }

  /** Adds one latency. */
  public void add(long latencyNanos) {
    max = count == 0 ? latencyNanos : Math.max(max, latencyNanos);
    if (count < capacity) {
      if (count == nanos.length) {
        nanos = Arrays.copyOf(nanos, Math.min(capacity, count * 2));
      }
      nanos[count] = latencyNanos;
    } else {
      // Algorithm R: the (count+1)-th latency replaces a kept one with probability capacity/(count+1).
      long j = random.nextLong(count + 1L);
      if (j < capacity) {
        nanos[(int) j] = latencyNanos;
      }
    }
    if (count < Integer.MAX_VALUE) {
      count++;
    }
  }

  /** The summary of everything added since the last drain, then forgets it. */
  public Summary drain() {
    int kept = Math.min(count, capacity);
    Summary s = summarize(Arrays.copyOf(nanos, kept));
    if (count > 0) {
      // The maximum is exact even when the sample missed it.
      s = new Summary(count, s.p50Us(), s.p90Us(), s.p99Us(), max / 1e3);
    }
    count = 0;
    return s;
  }

  /** How many latencies are held now (at most the capacity). */
  int retained() {
    return Math.min(count, capacity);
  }

  /** The length of the backing array (at most the capacity). */
  int footprint() {
    return nanos.length;
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
