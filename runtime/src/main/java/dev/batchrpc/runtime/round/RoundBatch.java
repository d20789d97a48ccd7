package dev.batchrpc.runtime.round;

import java.util.List;

/**
 * The closed round handed to a {@link BatchFunction}: its arrivals in arrival order.
 *
 * @param round the round's sequence number within its {@link Round}, from 0
 * @param arrivals the accepted requests in arrival order, one per participant (unmodifiable)
 * @param expected how many participants the round expected when it closed
 * @param partial true when the round closed on its maximum wait with fewer than {@code expected}
 *     arrivals (policy {@link PartialPolicy#RUN_PARTIAL})
 * @param <Q> the request type
 */
public record RoundBatch<Q>(long round, List<Arrival<Q>> arrivals, int expected, boolean partial) {

  /** The number of arrivals: the number of results a per-arrival {@link BatchResult} must hold. */
  public int size() {
    return arrivals.size();
  }
}
