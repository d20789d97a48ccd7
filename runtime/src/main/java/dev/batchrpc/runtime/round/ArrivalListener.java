package dev.batchrpc.runtime.round;

/**
 * Sees each request that joined a round, on the round's worker, before the round's batch: work
 * that can be done while the other participants are still on their way (e.g. adding a gradient to
 * the round's running sum), so the batch after the last arrival is short.
 *
 * <p>Ordered: for one round the calls come in arrival order ({@code slot} 0, 1, ...), all before
 * that round's batch and after the previous round's batch, on the same worker thread as the
 * batches. A round that fails (a timeout under the FAIL policy) or closes never runs its batch, so
 * a listener keeps its work per round (by {@code round}) and the batch checks that every arrival
 * it sees was seen. A listener that throws does not refuse the request (it has joined): the batch
 * must then do the work itself. A request withdrawn from an open round ({@link Round#withdraw})
 * renumbers that round: the calls already made stay under the old number, and the round's later
 * arrivals come under the new one from their slot (never slot 0), so a listener that starts its
 * work at slot 0 and checks the order (as above) never uses work that holds a withdrawn request.
 *
 * @param <Q> the request type
 */
@FunctionalInterface
public interface ArrivalListener<Q> {

  /**
   * @param round the round's sequence number ({@link RoundBatch#round()} of its batch)
   * @param slot the arrival's index in the round (its index in {@link RoundBatch#arrivals()})
   * @param request the request
   */
  void arrived(long round, int slot, Q request) throws Exception;
}
