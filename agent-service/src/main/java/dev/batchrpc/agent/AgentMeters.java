package dev.batchrpc.agent;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The agent's own meters (the step round registers its own): actions served, episodes done, and
 * the last episode's rewards. None without a registry.
 *
 * <p>Written on the agent's event loop; the rewards are read by scrapes on any thread.
 */
final class AgentMeters {

  private final Counter actionsServed;
  private final Counter episodesDone;
  private volatile double lastEpisodeReward;
  private volatile double lastRunningReward;

  /**
   * @param registry where the meters go, or {@code null} for nowhere
   * @param mode the action-selection mode, the actions counter's tag
   */
  AgentMeters(MeterRegistry registry, AgentMode mode) {
    if (registry == null) {
      actionsServed = null;
      episodesDone = null;
      return;
    }
    actionsServed = Counter.builder("agent.actions.served")
        .description("Actions answered to observers")
        .tag("mode", mode.cliName())
        .register(registry);
    episodesDone = Counter.builder("agent.episodes")
        .description("Episodes completed (each followed by one policy update)")
        .register(registry);
    Gauge.builder("agent.episode.reward", this, m -> m.lastEpisodeReward)
        .description("The last episode's reward (the tutorial's ep_reward)")
        .register(registry);
    Gauge.builder("agent.running.reward", this, m -> m.lastRunningReward)
        .description("The running reward after the last episode")
        .register(registry);
  }

  /** One action answered. */
  void actionServed() {
    if (actionsServed != null) {
      actionsServed.increment();
    }
  }

  /** One episode done, and its update taken. */
  void episodeDone(EpisodeResult result) {
    if (episodesDone != null) {
      lastEpisodeReward = result.episodeReward();
      lastRunningReward = result.runningReward();
      episodesDone.increment();
    }
  }
}
