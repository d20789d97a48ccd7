package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An episode in which no observer sends any step (their episode calls lost: found by
 * {@code bench chaos}) ends after about twice --max-wait-ms, not at the episode timeout; the next
 * episode with a working observer runs.
 */
class AgentSilenceTest {

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 60);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void anEpisodeWhoseObserversSendNoStepEndsWithinTheMaxWaitsNotTheEpisodeTimeout() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      ProtobufCodec.register(vertx);
      AgentConfig config = AgentConfig.of(1, AgentMode.BATCH, 4).withRoundWait(400, true);
      assertThat(config.episodeTimeoutMs()).isGreaterThan(60_000);
      AgentVerticle agent = new AgentVerticle(config, null);
      await(vertx.deployVerticle(agent));
      // an observer that registers, takes its episode call and never steps nor answers
      AtomicInteger calls = new AtomicInteger();
      String id = config.observerIds().get(0);
      var swallow = vertx.eventBus().consumer(Addresses.observerRunEpisode(id), m -> calls.incrementAndGet());
      await(swallow.completion());
      await(vertx.eventBus().request(Addresses.AGENT_REGISTER,
          RegisterObserverRequest.newBuilder().setObserverId(id).build(), ProtobufCodec.options()));
      await(agent.observersReady());
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> await(agent.runEpisode(20))).hasMessageContaining("sat out");
      double s = (System.nanoTime() - t0) / 1e9;
      assertThat(calls.get()).isEqualTo(1);
      assertThat(s).as("ended by the silence check, at 2-3 max waits").isBetween(0.7, 10.0);

      // the silent one is replaced by a working observer under the same id: the next episode runs
      await(swallow.unregister());
      ObserverConfig oc = new ObserverConfig(id, 0, 4, 10_000, true);
      await(vertx.deployVerticle(new ObserverVerticle(oc, AgentRuns.eventBus(vertx))));
      EpisodeResult r = null;
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (r == null && System.nanoTime() < until) {
        try {
          r = await(agent.runEpisode(20));
        } catch (Exception e) {
          Thread.sleep(100);
        }
      }
      assertThat(r).isNotNull();
      assertThat(r.observers()).isEqualTo(1);
    } finally {
      vertx.close();
    }
  }
}
