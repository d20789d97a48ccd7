package dev.batchrpc.runtime.round;

import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * How a {@link Round} closes and reports, validated at construction (an invalid value throws
 * {@link IllegalArgumentException} naming the field).
 *
 * @param name the round's name: a code constant such as {@code "update"}; used as the bounded
 *     {@code round} tag of its metrics and in error messages
 * @param metricPrefix the service prefix of the metric names, dotted (e.g. {@code "ps"} gives
 *     {@code ps.round.size}, {@code ps.rounds}, ...)
 * @param expected the number of participants a round waits for, at least 1; changed at runtime
 *     with {@link Round#setExpected(int)}
 * @param maxWait the longest a round stays open after its first arrival, or {@code null} to wait
 *     for all {@code expected} participants forever
 * @param partialPolicy what to do with a round closed by {@code maxWait}
 */
public record RoundConfig(String name, String metricPrefix, int expected, Duration maxWait,
    PartialPolicy partialPolicy) {

  private static final Pattern DOTTED = Pattern.compile("[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*");

  /** Validates every field. */
  public RoundConfig {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("round name must not be blank");
    }
    if (metricPrefix == null || !DOTTED.matcher(metricPrefix).matches()) {
      throw new IllegalArgumentException("round metricPrefix must be dotted lower-case words, got '"
          + metricPrefix + "'");
    }
    if (expected < 1) {
      throw new IllegalArgumentException("round expected must be at least 1, got " + expected);
    }
    if (maxWait != null && (maxWait.isNegative() || maxWait.isZero() || maxWait.toMillis() < 1)) {
      throw new IllegalArgumentException("round maxWait must be at least 1 ms, got " + maxWait);
    }
    Objects.requireNonNull(partialPolicy, "partialPolicy");
  }

  /**
   * A round that waits for all {@code expected} participants, with no maximum wait.
   *
   * @param name the round's name
   * @param metricPrefix the service metric prefix
   * @param expected the number of participants
   * @return the config
   */
  public static RoundConfig of(String name, String metricPrefix, int expected) {
    return new RoundConfig(name, metricPrefix, expected, null, PartialPolicy.RUN_PARTIAL);
  }

  /** This config with a maximum wait after the first arrival and a policy for a partial round. */
  public RoundConfig withMaxWait(Duration maxWait, PartialPolicy policy) {
    return new RoundConfig(name, metricPrefix, expected, Objects.requireNonNull(maxWait, "maxWait"),
        policy);
  }
}
