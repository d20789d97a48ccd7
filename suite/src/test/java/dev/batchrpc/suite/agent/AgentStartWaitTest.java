package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code agent --start-wait-ms} (found by {@code bench chaos}: a restarted agent waited a minute
 * for an observer that was being stopped and killed over and over): the first episode begins that
 * long after the first observer registered, with those registered; a late observer joins from the
 * episode after it registers. Without it the agent waits for all N, as before.
 */
class AgentStartWaitTest {

  private static final long SEED = 3;

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 60);
  }

  private static void observer(Vertx vertx, AgentConfig config, int i) throws Exception {
    ObserverConfig oc = new ObserverConfig(config.observerIds().get(i), i, SEED, 10_000, true);
    await(vertx.deployVerticle(new ObserverVerticle(oc, AgentRuns.eventBus(vertx))));
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theFirstEpisodeBeginsWithTheObserversRegisteredByTheStartWaitAndALateOneJoinsLater() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      ProtobufCodec.register(vertx);
      AgentConfig config = AgentConfig.of(3, AgentMode.BATCH, SEED).withRoundWait(5_000, true).withStartWait(300);
      AgentVerticle agent = new AgentVerticle(config, null);
      await(vertx.deployVerticle(agent));
      long t0 = System.nanoTime();
      observer(vertx, config, 0);
      observer(vertx, config, 1);
      await(agent.observersReady());
      double readyAfterS = (System.nanoTime() - t0) / 1e9;
      assertThat(readyAfterS).as("ready at the start wait, not later").isLessThan(5);
      EpisodeResult r0 = await(agent.runEpisode(30));
      assertThat(r0.observers()).isEqualTo(2);
      assertThat(r0.steps()).isEqualTo(30);
      // the step rounds did not wait for the one that never registered
      assertThat(r0.seconds()).isLessThan(5);

      observer(vertx, config, 2);
      EpisodeResult r;
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      do {
        r = await(agent.runEpisode(30));
      } while (r.observers() < 3 && System.nanoTime() < until);
      assertThat(r.observers()).as("the late observer takes part").isEqualTo(3);
    } finally {
      vertx.close();
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void withoutAStartWaitTheAgentWaitsForAllObservers() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      ProtobufCodec.register(vertx);
      AgentConfig config = AgentConfig.of(3, AgentMode.BATCH, SEED).withRoundWait(300, true);
      assertThat(config.startWaitMs()).isZero();
      AgentVerticle agent = new AgentVerticle(config, null);
      await(vertx.deployVerticle(agent));
      observer(vertx, config, 0);
      observer(vertx, config, 1);
      Thread.sleep(1_500);
      assertThat(agent.observersReady().isComplete()).isFalse();
      observer(vertx, config, 2);
      await(agent.observersReady());
      assertThat(await(agent.runEpisode(20)).observers()).isEqualTo(3);
    } finally {
      vertx.close();
    }
  }
}
