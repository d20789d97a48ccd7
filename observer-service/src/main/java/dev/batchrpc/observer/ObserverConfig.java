package dev.batchrpc.observer;

import dev.batchrpc.proto.Addresses;

/**
 * One observer's settings, validated at construction (an invalid value throws
 * {@link IllegalArgumentException} naming the setting).
 *
 * @param id the observer's id ({@code --id}): {@code [A-Za-z0-9_.-]+}; it listens at
 *     {@code observer.<id>.run-episode}
 * @param index the observer's index among the agent's observers ({@code --index}), from 0: with
 *     {@code seed} it picks the environment's random stream, so the same (seed, index) gives the
 *     same episode starts in one process or in many
 * @param seed the run's seed ({@code --seed}), shared by the agent and all observers
 * @param actionTimeoutMs how long one action request may take ({@code --action-timeout-ms});
 *     in batch mode it waits for the slowest observer of the step
 * @param register whether to announce this observer to the agent ({@code agent.register}) at start
 *     and whenever an agent starts
 */
public record ObserverConfig(String id, int index, long seed, long actionTimeoutMs, boolean register) {

  /** Default {@code --action-timeout-ms}: one minute (a step is microseconds; this catches a lost agent). */
  public static final long DEFAULT_ACTION_TIMEOUT_MS = 60_000;

  /** Validates. */
  public ObserverConfig {
    if (id == null || !Addresses.isValidId(id)) {
      throw new IllegalArgumentException("--id must match [A-Za-z0-9_.-]{1,128}, got '" + id + "'");
    }
    if (index < 0) {
      throw new IllegalArgumentException("--index must be >= 0, got " + index);
    }
    if (actionTimeoutMs <= 0) {
      throw new IllegalArgumentException("--action-timeout-ms must be > 0, got " + actionTimeoutMs);
    }
  }

  /** Observer {@code index} of a run: id {@code observer-<index>}, registering with the agent. */
  public static ObserverConfig of(int index, long seed) {
    return new ObserverConfig(Addresses.defaultObserverId(index), index, seed, DEFAULT_ACTION_TIMEOUT_MS, true);
  }

  /** The same settings without registration (for an agent that was told its observers). */
  public ObserverConfig withoutRegistration() {
    return new ObserverConfig(id, index, seed, actionTimeoutMs, false);
  }

  /**
   * The seed of this observer's CartPole: a SplitMix64 mix of (seed, index), so observers of one
   * run get unrelated streams and the same (seed, index) always gets the same one.
   */
  public long environmentSeed() {
    return mix(mix(seed ^ 0x0B5E_27E2_0000_0001L) + index);
  }

  /**
   * The seed of this observer's CartPole for agent episode {@code episode}: each episode starts a
   * fresh environment from (seed, index, episode), so an episode's resets never depend on what
   * ran before it in this process (an observer process that served another agent, or another
   * mode, gives the same episodes as a fresh one).
   */
  public long environmentSeed(long episode) {
    return mix(environmentSeed() + episode);
  }

  private static long mix(long z) {
    z += 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
