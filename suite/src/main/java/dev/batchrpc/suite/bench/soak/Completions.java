package dev.batchrpc.suite.bench.soak;

/** Sent and answered requests of one kind, and the rounds checked. */
public record Completions(long sent, long answered, long failed, long lost, long doubled, long rounds,
    long roundsChecked, long badRounds) {
  /** Whether every request got exactly one answer and every checked round was whole. */
  public boolean exact() {
    return failed == 0 && lost == 0 && doubled == 0 && badRounds == 0 && sent == answered;
  }
}
