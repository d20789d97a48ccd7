package dev.batchrpc.runtime.round;

import java.util.List;
import java.util.Objects;

/**
 * What a {@link BatchFunction} returns: either one result per arrival, in arrival order, or one
 * result shared by every caller of the round.
 *
 * <p>A shared result is handed to every caller as the same instance, never copied: encode a reply
 * once on the worker (a protobuf message, a {@code Buffer}) and every caller gets it. It must
 * therefore be immutable, or at least never be mutated once returned.
 *
 * @param <R> the result type
 */
public final class BatchResult<R> {

  private final List<R> each;
  private final R shared;

  private BatchResult(List<R> each, R shared) {
    this.each = each;
    this.shared = shared;
  }

  /**
   * One result per arrival, element {@code i} for arrival {@code i} of the {@link RoundBatch}.
   *
   * @param results as many results as the batch had arrivals; elements may be {@code null}
   * @param <R> the result type
   * @return the batch result
   */
  public static <R> BatchResult<R> perArrival(List<R> results) {
    Objects.requireNonNull(results, "results");
    return new BatchResult<>(results, null);
  }

  /**
   * The same result for every caller of the round.
   *
   * @param result the shared result; may be {@code null} (e.g. for {@code Void})
   * @param <R> the result type
   * @return the batch result
   */
  public static <R> BatchResult<R> shared(R result) {
    return new BatchResult<>(null, result);
  }

  /** True when every caller gets the same instance. */
  public boolean isShared() {
    return each == null;
  }

  /** The number of per-arrival results, or -1 for a shared result. */
  int count() {
    return each == null ? -1 : each.size();
  }

  /** The result of arrival {@code i}. */
  R get(int i) {
    return each == null ? shared : each.get(i);
  }
}
