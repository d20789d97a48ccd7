package dev.batchrpc.runtime.round;

/** What a round does when its maximum wait passes before all expected participants arrived. */
public enum PartialPolicy {
  /** Run the batch with the arrivals so far; the batch sees {@link RoundBatch#partial()} true. */
  RUN_PARTIAL,
  /**
   * Fail the arrivals so far with {@link dev.batchrpc.proto.FailureCode#ROUND_TIMEOUT}, saying how
   * many of the expected participants arrived and after how long.
   */
  FAIL;

  /**
   * Parses the command-line value of {@code --partial-policy}: {@code run} or {@code fail}.
   *
   * @param value the flag's value (case and surrounding blanks ignored)
   * @return the policy
   * @throws IllegalArgumentException naming the flag for any other value
   */
  public static PartialPolicy parse(String value) {
    String v = value == null ? "" : value.trim().toLowerCase(java.util.Locale.ROOT);
    return switch (v) {
      case "run" -> RUN_PARTIAL;
      case "fail" -> FAIL;
      default -> throw new IllegalArgumentException("--partial-policy must be run or fail, got '" + value + "'");
    };
  }
}
