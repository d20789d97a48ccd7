package dev.batchrpc.agent;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * Deploys an agent's observers in the agent's own process, for {@code batch-rpc agent} without
 * {@code --clustered}. The agent module knows no observer (services depend on runtime, compute and
 * shared-proto only): the {@code suite} module, which holds both, supplies the wiring.
 */
@FunctionalInterface
public interface LocalObservers {

  /**
   * Deploys one observer per id of {@code config}, index i with id {@code config.observerIds().get(i)}
   * and the run's seed, each registering with the agent.
   *
   * @param vertx the agent's Vert.x
   * @param config the agent's settings
   * @return completes once every observer is deployed
   */
  Future<?> deploy(Vertx vertx, AgentConfig config);
}
