package dev.batchrpc.agent;

import java.util.Locale;

/** How the agent answers action requests. */
public enum AgentMode {
  /** One round per step over all observers: one forward pass for the whole step. */
  BATCH,
  /** Each request is answered at once with its own forward pass (batch size 1). */
  NOBATCH;

  /** The CLI spelling: {@code batch} or {@code nobatch}. */
  public String cliName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * Parses {@code batch} / {@code nobatch} (case-insensitive; {@code non-batch} too).
   *
   * @throws IllegalArgumentException naming the allowed values
   */
  public static AgentMode parse(String s) {
    String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
    switch (v) {
      case "batch":
        return BATCH;
      case "nobatch":
      case "nonbatch":
        return NOBATCH;
      default:
        throw new IllegalArgumentException("--mode must be batch or nobatch, got '" + s + "'");
    }
  }
}
