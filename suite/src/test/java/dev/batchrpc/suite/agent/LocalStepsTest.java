package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.runtime.bus.LocalCalls;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Observers in the agent's own process (a plain Vert.x: {@code batch-rpc agent} without
 * {@code --clustered}, the demo, {@code bench rl}'s one-process deployment) send their steps as
 * direct calls ({@code LocalCalls}), not event-bus messages; the run ends exactly as the same run
 * on the event bus does; and with a second direct service at the address the steps go on the bus.
 */
class LocalStepsTest {

  private static final int EPISODES = 2;
  private static final int STEPS = 40;

  @Test
  void stepsInOneProcessSkipTheEventBusAndEndAsOnTheBus() throws Exception {
    for (AgentMode mode : AgentMode.values()) {
      AgentConfig config = AgentConfig.of(3, mode, 77);
      AgentRuns.Run onBus = AgentRuns.cleanRun(config, EPISODES, STEPS);
      Vertx vertx = Vertx.vertx();
      try {
        AtomicInteger onTheBus = countSteps(vertx);
        Direct direct = LoopbackNodes.await(runDefault(vertx, config), 60);
        assertThat(onTheBus.get()).as(mode + ": step messages on the event bus").isZero();
        assertThat(direct.parameters).as(mode.name()).containsExactly(onBus.parameters());
        assertThat(direct.episodes).extracting(EpisodeResult::runningReward)
            .containsExactlyElementsOf(onBus.episodes().stream().map(EpisodeResult::runningReward).toList());
      } finally {
        vertx.close().await();
      }
    }
  }

  @Test
  void withASecondServiceAtTheAddressTheStepsGoOnTheBus() throws Exception {
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, 77);
    AgentRuns.Run onBus = AgentRuns.cleanRun(config, EPISODES, STEPS);
    Vertx vertx = Vertx.vertx();
    try {
      AtomicInteger onTheBus = countSteps(vertx);
      // A second direct service at the address (it would fail every call): with two, a direct
      // call could not choose as the bus chooses among consumers, so the observers use the bus.
      AtomicInteger directCalls = new AtomicInteger();
      io.vertx.core.Promise<LocalCalls.Registration> registered = io.vertx.core.Promise.promise();
      vertx.getOrCreateContext().runOnContext(v -> registered.complete(LocalCalls.register(vertx,
          Addresses.AGENT_SELECT_ACTION, (q, gone) -> {
            directCalls.incrementAndGet();
            return Future.failedFuture("not this one");
          })));
      LocalCalls.Registration second = LoopbackNodes.await(registered.future(), 10);
      Direct run = LoopbackNodes.await(runDefault(vertx, config), 60);
      assertThat(directCalls.get()).isZero();
      assertThat(onTheBus.get()).as("step messages on the event bus").isEqualTo(EPISODES * STEPS * 2);
      assertThat(run.parameters).containsExactly(onBus.parameters());
      second.close();
    } finally {
      vertx.close().await();
    }
  }

  private record Direct(List<EpisodeResult> episodes, float[] parameters) {
  }

  /** Counts the event-bus messages sent to the agent's select-action address. */
  private static AtomicInteger countSteps(Vertx vertx) {
    AtomicInteger n = new AtomicInteger();
    vertx.eventBus().addOutboundInterceptor(ctx -> {
      if (Addresses.AGENT_SELECT_ACTION.equals(ctx.message().address())) {
        n.incrementAndGet();
      }
      ctx.next();
    });
    return n;
  }

  /** The agent and its observers with their default action source, as the one-process launchers deploy them. */
  private static Future<Direct> runDefault(Vertx vertx, AgentConfig config) {
    ProtobufCodec.register(vertx);
    AgentVerticle agent = new AgentVerticle(config, null);
    return vertx.deployVerticle(agent).compose(id -> {
      List<Future<String>> observers = new ArrayList<>();
      for (int i = 0; i < config.observers(); i++) {
        observers.add(vertx.deployVerticle(new ObserverVerticle(
            new ObserverConfig(config.observerIds().get(i), i, config.seed(), 10_000, true))));
      }
      return Future.all(observers);
    }).compose(v -> agent.observersReady())
        .compose(v -> AgentRuns.episodes(agent, EPISODES, STEPS, new ArrayList<>()))
        .compose(results -> agent.parameters().map(p -> new Direct(results, p)));
  }
}
