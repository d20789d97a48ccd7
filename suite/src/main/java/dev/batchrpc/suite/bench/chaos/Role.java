package dev.batchrpc.suite.bench.chaos;

import java.util.Locale;

/** The processes of a chaos run: the two servers and their participants. */
public enum Role {
  PS, TRAINER, AGENT, OBSERVER;

  /** The {@code batch-rpc} subcommand that runs it. */
  public String command() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether it is a server (the ps or the agent) whose participants depend on it. */
  public boolean server() {
    return this == PS || this == AGENT;
  }
}
