package dev.batchrpc.runtime.round;

/**
 * The batched computation of a round: all arrivals in, one result per arrival (or one shared) out.
 *
 * <p>It runs on the round's ordered worker thread, never on an event loop, so it may block and may
 * use thread-bound resources (a CUDA context): the batches of one round never overlap and always
 * run on the same single thread, in round order. It must not touch the round itself.
 *
 * @param <Q> the request type
 * @param <R> the result type
 */
@FunctionalInterface
public interface BatchFunction<Q, R> {

  /**
   * Computes the round's results.
   *
   * @param batch the closed round, arrivals in arrival order
   * @return the results; a per-arrival result must hold exactly {@link RoundBatch#size()} elements
   * @throws Exception any failure: every caller of this round gets
   *     {@link dev.batchrpc.proto.FailureCode#BATCH_FAILED} with the cause in the message (an
   *     {@link dev.batchrpc.runtime.RpcException} thrown here keeps its own code), and the next
   *     round is unaffected
   */
  BatchResult<R> run(RoundBatch<Q> batch) throws Exception;
}
