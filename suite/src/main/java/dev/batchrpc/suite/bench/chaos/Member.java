package dev.batchrpc.suite.bench.chaos;

import dev.batchrpc.runtime.process.ChildJvm;
import java.util.ArrayList;
import java.util.List;

/**
 * One process slot of a chaos run (the ps, a trainer id, the agent, an observer index) and its
 * current incarnation. Only the chaos loop's thread touches it.
 */
public final class Member {

  final Role role;
  final String id;
  final int index;
  ChildJvm child;
  int incarnation;
  long startedMs;
  /** Set when the bench SIGKILLed or SIGTERMed the current incarnation. */
  boolean endedByBench;
  /** Since when it is SIGSTOPped (Unix ms), or -1. */
  long stoppedSinceMs = -1;
  /** When to SIGCONT it, or -1. */
  long contAtMs = -1;
  /** When to start the next incarnation, or -1 (none due). */
  long restartAtMs = -1;
  /** Its lines already looked at (progress lines). */
  int linesSeen;
  /** It printed its start line (it is in the rounds, or waits for its server). */
  boolean ready;
  /** The GC heap samples of the current incarnation: {seconds since its start, MB}. */
  final List<double[]> heap = new ArrayList<>();

  Member(Role role, String id, int index) {
    this.role = role;
    this.id = id;
    this.index = index;
  }

  /** Alive (started and not yet exited). */
  boolean alive() {
    return child != null && !child.ended().isDone() && child.process().isAlive();
  }

  /** Alive and not stopped. */
  boolean running() {
    return alive() && stoppedSinceMs < 0;
  }

  /** A name for messages, e.g. {@code trainer chaos-t1 #3}. */
  String label() {
    return role.command() + " " + id + " #" + incarnation;
  }
}
