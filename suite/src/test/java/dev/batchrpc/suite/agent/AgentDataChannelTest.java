package dev.batchrpc.suite.agent;

import static dev.batchrpc.runtime.testing.LoopbackNodes.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ActionSource;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Bad input on the agent's data channel (where clustered observers send their steps): a malformed
 * request, a step of an unknown observer, one outside an episode, an unknown method and a frame
 * with a payload each get their code, and the episodes that follow end exactly like a clean run's.
 * A step whose connection closes while it waits in the open round leaves the round (issue 11,
 * row 7): no action is sampled for it, its resend is accepted, the run ends like a clean one.
 */
@ExtendWith(LoopbackNodes.class)
class AgentDataChannelTest {

  private static final long SEED = 31;
  private static final int STEPS = 30;
  private static final byte[] MALFORMED = {0x0A, 0x7F, 'x'};

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void refusalsOnTheDataChannelLeaveTheRunAsACleanOne() throws Exception {
    AgentConfig config = AgentConfig.of(1, AgentMode.BATCH, SEED);
    AgentRuns.Run clean = AgentRuns.cleanRun(config, 2, STEPS);
    Node node = clusteredNode("agent-data");
    try {
      AgentVerticle agent = new AgentVerticle(config, null);
      await(node.vertx().deployVerticle(agent), 30);
      assertThat(agent.dataPort()).as("a clustered agent has a data channel").isPositive();
      DataClient raw = await(DataClient.connect(node.vertx(), "127.0.0.1", agent.dataPort(), 0,
          new BufferPool(0)), 10);

      SelectActionRequest stranger = step("observer-9", 0, 0);
      SelectActionRequest early = step("observer-0", 0, 0);
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_SELECT_ACTION, ByteString.copyFrom(MALFORMED), null, 5_000)))
          .isEqualTo(FailureCode.BAD_REQUEST);
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_SELECT_ACTION, stranger.toByteString(), null, 5_000)))
          .isEqualTo(FailureCode.UNKNOWN_PARTICIPANT);
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_SELECT_ACTION, early.toByteString(), null, 5_000)))
          .as("no episode is running").isEqualTo(FailureCode.UNAVAILABLE);
      assertThat(AgentRuns.code(raw.call("agent.no-such-call", early.toByteString(), null, 5_000)))
          .isEqualTo(FailureCode.BAD_REQUEST);
      assertThat(raw.isOpen()).as("refused calls keep the connection").isTrue();
      // A step carries no payload: any payload is over the channel's limit, refused before it is
      // read, and the connection is closed.
      assertThat(AgentRuns.code(raw.call(Addresses.AGENT_SELECT_ACTION, early.toByteString(), ByteBuffer.allocate(16), 5_000)))
          .isEqualTo(FailureCode.TOO_LARGE);
      assertThat(raw.isOpen()).isFalse();

      await(node.vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(0, SEED))), 30);
      await(agent.observersReady(), 30);
      List<EpisodeResult> episodes = await(AgentRuns.episodes(agent, 2, STEPS, new ArrayList<>()), 60);
      float[] parameters = await(agent.parameters(), 10);
      assertThat(AgentRuns.describe(episodes)).containsExactlyElementsOf(AgentRuns.describe(clean.episodes()));
      assertThat(parameters).containsExactly(clean.parameters());
    } finally {
      await(node.close(), 20);
    }
  }

  /** With {@code spinUs} &gt; 0 the abandoned step waits in a same-host mailbox, not in a frame. */
  @ParameterizedTest
  @ValueSource(ints = {0, 50})
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void aStepWhoseConnectionClosesInTheOpenRoundLeavesItAndTheRunEndsLikeACleanOne(int spinUs) throws Exception {
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED);
    AgentRuns.Run clean = AgentRuns.cleanRun(config, 2, STEPS);
    Node node = await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName("agent-data-gone"), Ports.freePort(),
        List.of()).withSpinUs(spinUs)), 60);
    try {
      Vertx vertx = node.vertx();
      AgentVerticle agent = new AgentVerticle(config, null);
      await(vertx.deployVerticle(agent), 30);
      ActionSource bus = AgentRuns.eventBus(vertx);
      Promise<Void> abandoned = Promise.promise();
      List<String> how = new java.util.concurrent.CopyOnWriteArrayList<>();
      // Observer 0's step 0 of episode 0 first goes alone into the round on a connection of its
      // own, which closes 300 ms later; then the real request.
      ActionSource first = q -> {
        if (q.getEpisode() != 0 || q.getStep() != 0) {
          return bus.selectAction(q);
        }
        // (offering a mailbox: on this context's loop, which polls when spinUs > 0)
        Future<DataClient> connected = DataClient.connect(vertx, "127.0.0.1", agent.dataPort(), 0,
            new BufferPool(0), 0, null, true);
        return connected.compose(raw -> {
          how.add(raw.mailbox() ? "mailbox" : "frame");
          Future<?> call = raw.call(Addresses.AGENT_SELECT_ACTION, q.toByteString(), null, 10_000);
          Promise<Void> closed = Promise.promise();
          vertx.setTimer(300, t -> raw.close().onComplete(x -> closed.complete()));
          return closed.future().compose(v -> call.transform(ar -> {
            how.add(ar.failed() ? RpcException.of(ar.cause()).code().name() : "answered!");
            Promise<Void> pause = Promise.promise();
            // The agent takes the step back on the close: give it time to have run.
            vertx.setTimer(300, t -> pause.complete());
            return pause.future();
          }));
        }).compose(v -> {
          abandoned.tryComplete();
          return bus.selectAction(q);
        });
      };
      // Observer 1 holds its step 0 back until then.
      ActionSource late = q -> q.getEpisode() == 0 && q.getStep() == 0
          ? abandoned.future().compose(v -> bus.selectAction(q)) : bus.selectAction(q);
      for (int i = 0; i < 2; i++) {
        ObserverConfig oc = new ObserverConfig(config.observerIds().get(i), i, SEED, 10_000, true);
        await(vertx.deployVerticle(new ObserverVerticle(oc, i == 0 ? first : late)), 30);
      }
      await(agent.observersReady(), 30);
      List<EpisodeResult> episodes = await(AgentRuns.episodes(agent, 2, STEPS, new ArrayList<>()), 60);
      float[] parameters = await(agent.parameters(), 10);
      assertThat(how).as("the abandoned call was never answered")
          .containsExactly(spinUs > 0 ? "mailbox" : "frame", "UNAVAILABLE");
      assertThat(AgentRuns.describe(episodes)).containsExactlyElementsOf(AgentRuns.describe(clean.episodes()));
      assertThat(parameters).containsExactly(clean.parameters());
    } finally {
      await(node.close(), 20);
    }
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void onNodesThatPollTheStepsGoThroughTheMailboxAndTheRunEndsLikeACleanOne() throws Exception {
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED);
    AgentRuns.Run clean = AgentRuns.cleanRun(config, 2, STEPS);
    Node node = await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName("agent-mailbox"), Ports.freePort(),
        List.of()).withSpinUs(50)), 60);
    try {
      AgentVerticle agent = new AgentVerticle(config, node.registry());
      await(node.vertx().deployVerticle(agent), 30);
      for (int i = 0; i < 2; i++) {
        await(node.vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(i, SEED))), 30);
      }
      await(agent.observersReady(), 30);
      List<EpisodeResult> episodes = await(AgentRuns.episodes(agent, 2, STEPS, new ArrayList<>()), 60);
      float[] parameters = await(agent.parameters(), 10);
      assertThat(AgentRuns.describe(episodes)).containsExactlyElementsOf(AgentRuns.describe(clean.episodes()));
      assertThat(parameters).containsExactly(clean.parameters());
      int steps = episodes.stream().mapToInt(EpisodeResult::steps).sum();
      assertThat(agent.mailboxCalls()).as("the steps of the longest-running observer at least, through the mailbox")
          .isGreaterThanOrEqualTo(steps);
      java.util.regex.Matcher scraped = java.util.regex.Pattern
          .compile("(?m)^agent_data_mailbox_calls_total(?:\\{[^}]*\\})? ([0-9.E]+)$").matcher(node.registry().scrape());
      assertThat(scraped.find()).as("agent_data_mailbox_calls_total is scraped").isTrue();
      assertThat(Double.parseDouble(scraped.group(1))).isGreaterThanOrEqualTo(steps);
    } finally {
      await(node.close(), 20);
    }
  }

  /** A one-member cluster on loopback, of its own name. */
  private static Node clusteredNode(String prefix) throws Exception {
    return await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName(prefix), Ports.freePort(),
        List.of())), 60);
  }

  private static SelectActionRequest step(String observer, long episode, int step) {
    return SelectActionRequest.newBuilder().setObserverId(observer).setEpisode(episode).setStep(step)
        .setState(Tensors.vector(new float[] {0.01f, 0.02f, 0.03f, 0.04f})).build();
  }
}
