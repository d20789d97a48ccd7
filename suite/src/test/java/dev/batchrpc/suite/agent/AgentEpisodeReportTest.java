package dev.batchrpc.suite.agent;

import static dev.batchrpc.runtime.testing.LoopbackNodes.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Vertx;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * An observer's episode report must reach the agent even when the clustered event bus loses the
 * reply to the run-episode call (found by {@code bench chaos}: while the cluster's membership
 * settled after a pause, the observers' replies sat in an event-bus connection that waited for the
 * cluster to look the agent's node up, and the agent waited 27 s for reports of steps it had all
 * answered). A clustered observer sends the report over the agent's data channel too, and the
 * agent stops waiting for a report that has not come two maximum waits after the last step.
 */
@ExtendWith(LoopbackNodes.class)
class AgentEpisodeReportTest {

  private static final long SEED = 17;
  private static final int STEPS = 30;

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void reportsOnTheDataChannelCountWhenEveryEventBusReplyIsLostAndTheRunEndsLikeACleanOne() throws Exception {
    // Without the data channel's reports the report check would sit both observers out of every
    // episode (it would fail); before that check the episodes waited for their timeout.
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED);
    assertThat(config.episodeTimeoutMs()).isGreaterThan(120_000);
    AgentRuns.Run clean = AgentRuns.cleanRun(config, 2, STEPS);
    Node node = await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName("agent-report"),
        Ports.freePort(), List.of())), 60);
    try {
      Vertx vertx = node.vertx();
      AtomicInteger dropped = dropReports(vertx, r -> true);
      AgentVerticle agent = new AgentVerticle(config, null);
      await(vertx.deployVerticle(agent), 30);
      assertThat(agent.dataPort()).isPositive();

      // Bad input on the new call first: each refused, nothing harmed.
      DataClient raw = await(DataClient.connect(vertx, "127.0.0.1", agent.dataPort(), 0, new BufferPool(0)), 10);
      RunEpisodeReply stranger = RunEpisodeReply.newBuilder().setObserverId("observer-9").setEpisode(0)
          .addRewards(1f).addTerminated(false).build();
      RunEpisodeReply noEpisode = stranger.toBuilder().setObserverId("observer-0").build();
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_EPISODE_REPORT, ByteString.copyFrom(new byte[] {0x0A, 0x7F}),
          null, 5_000))).isEqualTo(FailureCode.BAD_REQUEST);
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_EPISODE_REPORT, stranger.toByteString(), null, 5_000)))
          .isEqualTo(FailureCode.BAD_REQUEST);
      assertThat(await(raw.call(Addresses.AGENT_EPISODE_REPORT, noEpisode.toByteString(), null, 5_000), 10))
          .as("a report while no episode runs is ignored, not refused").isNotNull();
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_EPISODE_REPORT, noEpisode.toByteString(), ByteBuffer.allocate(8),
          5_000))).as("the report travels in the header; a payload is over the agent's limit")
          .isEqualTo(FailureCode.TOO_LARGE);

      for (int i = 0; i < 2; i++) {
        await(vertx.deployVerticle(new ObserverVerticle(ObserverConfig.of(i, SEED))), 30);
      }
      await(agent.observersReady(), 30);
      List<EpisodeResult> episodes = await(AgentRuns.episodes(agent, 2, STEPS, new ArrayList<>()), 60);
      float[] parameters = await(agent.parameters(), 10);
      assertThat(dropped.get()).as("every run-episode reply on the event bus was lost").isEqualTo(4);
      assertThat(episodes).allSatisfy(e -> assertThat(e.observers()).isEqualTo(2));
      assertThat(AgentRuns.describe(episodes)).containsExactlyElementsOf(AgentRuns.describe(clean.episodes()));
      assertThat(parameters).containsExactly(clean.parameters());
    } finally {
      await(node.close(), 20);
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aReportLostOnEveryPathEndsItsObserversEpisodeAfterTheMaxWaitNotTheTimeout() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      ProtobufCodec.register(vertx);
      AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED).withRoundWait(400, true);
      assertThat(config.episodeTimeoutMs()).isGreaterThan(60_000);
      // Observer 1's report of episode 0 is lost (one process: no data channel, the event bus only).
      AtomicInteger dropped = dropReports(vertx, r -> r.getObserverId().equals("observer-1") && r.getEpisode() == 0);
      AgentVerticle agent = new AgentVerticle(config, null);
      await(vertx.deployVerticle(agent), 30);
      for (int i = 0; i < 2; i++) {
        ObserverConfig oc = new ObserverConfig(config.observerIds().get(i), i, SEED, 10_000, true);
        await(vertx.deployVerticle(new ObserverVerticle(oc, AgentRuns.eventBus(vertx))), 30);
      }
      await(agent.observersReady(), 30);
      long t0 = System.nanoTime();
      EpisodeResult lost = await(agent.runEpisode(STEPS), 30);
      double s = (System.nanoTime() - t0) / 1e9;
      EpisodeResult next = await(agent.runEpisode(STEPS), 30);
      assertThat(dropped.get()).isEqualTo(1);
      assertThat(lost.observers()).as("updated on observer 0's rows only").isEqualTo(1);
      assertThat(s).as("ended by the report check, 2-3 max waits after the last step").isLessThan(10.0);
      assertThat(next.observers()).as("observer 1 takes part again").isEqualTo(2);
    } finally {
      vertx.close();
    }
  }

  /** Drops the replies carrying a matching report on {@code vertx}'s event bus; counts them. */
  private static AtomicInteger dropReports(Vertx vertx, Predicate<RunEpisodeReply> which) {
    AtomicInteger dropped = new AtomicInteger();
    vertx.eventBus().addOutboundInterceptor(ctx -> {
      if (ctx.body() instanceof RunEpisodeReply r && which.test(r)) {
        dropped.incrementAndGet();
        return;
      }
      ctx.next();
    });
    return dropped;
  }
}
