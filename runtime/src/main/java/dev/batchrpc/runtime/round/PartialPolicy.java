package dev.batchrpc.runtime.round;

/** What a round does when its maximum wait passes before all expected participants arrived. */
public enum PartialPolicy {
  /** Run the batch with the arrivals so far; the batch sees {@link RoundBatch#partial()} true. */
  RUN_PARTIAL,
  /**
   * Fail the arrivals so far with {@link dev.batchrpc.proto.FailureCode#ROUND_TIMEOUT}, saying how
   * many of the expected participants arrived and after how long.
   */
  FAIL
}
