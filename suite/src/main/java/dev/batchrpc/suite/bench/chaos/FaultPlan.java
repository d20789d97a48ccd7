package dev.batchrpc.suite.bench.chaos;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The seeded randomness of a chaos run: which fault comes next (a shuffled deck holding each fault
 * {@link Fault#weight()} times, so every kind comes up in every deck), when, how long a SIGSTOP
 * lasts, how long a killed process stays dead, and which of the eligible processes is hit. The
 * same seed and the same eligible processes give the same plan.
 *
 * <p>Not thread-safe: the chaos loop's one thread uses it.
 */
public final class FaultPlan {

  private final Random random;
  private final List<Fault> kinds;
  private final double meanGapS;
  private final double maxStopS;
  private final List<Fault> deck = new ArrayList<>();

  /**
   * @param seed the run's seed
   * @param kinds the faults to draw from
   * @param meanGapS the mean time between two faults (each gap is uniform in [0.5, 1.5] x this)
   * @param maxStopS the longest SIGSTOP (each is uniform in [1, this])
   */
  public FaultPlan(long seed, List<Fault> kinds, double meanGapS, double maxStopS) {
    if (kinds.isEmpty()) {
      throw new IllegalArgumentException("no faults to inject");
    }
    this.random = new Random(seed);
    this.kinds = List.copyOf(kinds);
    this.meanGapS = meanGapS;
    this.maxStopS = Math.max(1, maxStopS);
  }

  /** The next fault's kind. */
  public Fault nextFault() {
    if (deck.isEmpty()) {
      for (Fault f : kinds) {
        for (int i = 0; i < f.weight(); i++) {
          deck.add(f);
        }
      }
      Collections.shuffle(deck, random);
    }
    return deck.remove(deck.size() - 1);
  }

  /** Puts back a fault that could not be injected (no target): it comes next. */
  public void putBack(Fault f) {
    deck.add(f);
  }

  /** Seconds until the next fault. */
  public double nextGapS() {
    return meanGapS * (0.5 + random.nextDouble());
  }

  /** Seconds a SIGSTOP lasts before its SIGCONT: uniform in [1, max]. */
  public double stopS() {
    return 1 + random.nextDouble() * (maxStopS - 1);
  }

  /** Seconds a killed process stays dead before its restart: uniform in [0.5, 3]. */
  public double restartDelayS() {
    return 0.5 + random.nextDouble() * 2.5;
  }

  /** One of {@code n} candidates. */
  public int pick(int n) {
    return random.nextInt(n);
  }
}
