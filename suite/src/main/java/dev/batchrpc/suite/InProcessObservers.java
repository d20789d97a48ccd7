package dev.batchrpc.suite;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.LocalObservers;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;

/**
 * An agent's observers deployed beside it, in one process: {@code batch-rpc agent} without
 * {@code --clustered} and the demo. It lives here because only the suite holds both the agent and
 * the observer; the services know nothing of each other but the wire contract.
 */
public final class InProcessObservers implements LocalObservers {

  /**
   * Deploys observer i of the agent (its id, index i, the run's seed), each asking the agent over
   * the event bus and registering with it.
   */
  @Override
  public Future<?> deploy(Vertx vertx, AgentConfig config) {
    List<Future<String>> deployed = new ArrayList<>();
    for (int i = 0; i < config.observers(); i++) {
      ObserverConfig observer = new ObserverConfig(config.observerIds().get(i), i, config.seed(),
          ObserverConfig.DEFAULT_ACTION_TIMEOUT_MS, true);
      deployed.add(vertx.deployVerticle(new ObserverVerticle(observer)));
    }
    return Future.all(deployed);
  }
}
