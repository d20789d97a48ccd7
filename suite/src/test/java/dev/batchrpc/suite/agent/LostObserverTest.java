package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * An observer lost mid-episode never hangs the agent: its node is closed abruptly (Hazelcast
 * instance terminated, no goodbye), the step round that waits for it completes as soon as the
 * cluster drops the node, the episode finishes with the other observers and updates on their rows,
 * the next episode runs without it, and a restarted observer is back for the episode after.
 */
@ExtendWith(LoopbackNodes.class)
class LostObserverTest {

  private static final long SEED = 5;
  private static final int MEMBER_TIMEOUT_S = 3;
  private static final long MAX_WAIT_MS = 30_000;
  private final List<Node> nodes = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("lost-observer");

  @AfterEach
  void closeNodes() {
    LoopbackNodes.closeQuietly(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 90);
  }

  private Node node(int port, List<String> members) throws Exception {
    Node n = await(Nodes.start(NodeConfig.clustered(cluster, LoopbackNodes.LOOPBACK, port, members)
        .withMemberTimeoutS(MEMBER_TIMEOUT_S)));
    nodes.add(n);
    return n;
  }

  private Node observerNode(List<String> seed, int index) throws Exception {
    Node n = node(Ports.freePort(), seed);
    await(n.vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(index, SEED))));
    return n;
  }

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void anObserverNodeClosedAbruptlyMidEpisodeLeavesAndTheEpisodesGoOn() throws Exception {
    int agentPort = Ports.freePort();
    Node agentNode = node(agentPort, List.of());
    List<String> seed = List.of(LoopbackNodes.member(agentPort));
    AgentConfig config = AgentConfig.of(3, AgentMode.BATCH, SEED).withRoundWait(MAX_WAIT_MS, true);
    AgentVerticle agent = new AgentVerticle(config, agentNode.registry());
    await(agentNode.vertx().deployVerticle(agent));
    observerNode(seed, 0);
    observerNode(seed, 1);
    Node victim = observerNode(seed, 2);
    await(agent.observersReady());

    // A long episode; the victim's node dies once the steps are flowing.
    Future<EpisodeResult> first = agent.runEpisode(10_000);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (agentNode.registry().get("agent.actions.served").counter().count() < 300) {
      assertThat(System.nanoTime()).as("steps flowing").isLessThan(deadline);
      Thread.sleep(5);
    }
    nodes.remove(victim);
    long killed = System.nanoTime();
    LoopbackNodes.crash(victim);
    EpisodeResult r0 = await(first);
    double secondsAfterKill = (System.nanoTime() - killed) / 1e9;
    Timer wait = agentNode.registry().get("agent.round.wait").timer();
    System.out.printf("[kill-test] observer node closed abruptly mid-episode: the episode finished "
            + "with %d of 3 observers %.2f s after the crash; the longest step round waited %.0f ms "
            + "(member timeout %d s, max wait %d s)%n", r0.observers(), secondsAfterKill,
        wait.max(TimeUnit.MILLISECONDS), MEMBER_TIMEOUT_S, MAX_WAIT_MS / 1000);
    assertThat(r0.observers()).isEqualTo(2);
    assertThat(r0.steps()).isEqualTo(10_000);
    assertThat(wait.max(TimeUnit.MILLISECONDS)).as("no step round waited for the max wait")
        .isLessThan((double) MAX_WAIT_MS);
    assertThat(agentNode.registry().get("agent.round.departures").counter().count()).isEqualTo(1);
    assertThat(agentNode.registry().get("agent.rounds").tag("outcome", "partial").counter().count())
        .isZero();

    // The next episode runs with the two live observers, full rounds of 2.
    EpisodeResult r1 = await(agent.runEpisode(200));
    assertThat(r1.observers()).isEqualTo(2);

    // A restarted observer 2 registers again and is back for the next episode.
    observerNode(seed, 2);
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    EpisodeResult r2;
    do {
      r2 = await(agent.runEpisode(200));
    } while (r2.observers() < 3 && System.nanoTime() < until);
    assertThat(r2.observers()).isEqualTo(3);
    victim.vertx().close();
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void anObserverThatMissesAStepRoundSitsOutTheEpisodeAndIsBackForTheNext() throws Exception {
    io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
    try {
      dev.batchrpc.proto.ProtobufCodec.register(vertx);
      io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
          new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
      AgentConfig config = AgentConfig.of(3, AgentMode.BATCH, SEED).withRoundWait(200, true);
      AgentVerticle agent = new AgentVerticle(config, registry);
      await(vertx.deployVerticle(agent));
      // Observer 2 stalls once, at step 5 of the first episode, for 5x the max wait.
      io.vertx.core.Promise<Void> stallOver = io.vertx.core.Promise.promise();
      dev.batchrpc.observer.ActionSource bus = AgentRuns.eventBus(vertx);
      dev.batchrpc.observer.ActionSource staller = q -> q.getEpisode() == 0 && q.getStep() == 5
          ? Future.<dev.batchrpc.proto.v1.SelectActionReply>future(p -> vertx.setTimer(1_000,
              t -> bus.selectAction(q).onComplete(p).onComplete(ar -> stallOver.tryComplete())))
          : bus.selectAction(q);
      for (int i = 0; i < 3; i++) {
        ObserverConfig oc = new ObserverConfig(config.observerIds().get(i), i, SEED, 10_000, true);
        await(vertx.deployVerticle(new ObserverVerticle(oc, i == 2 ? staller : bus)));
      }
      await(agent.observersReady());
      EpisodeResult r0 = await(agent.runEpisode(40));
      assertThat(r0.observers()).as("observer 2 sat out episode 0").isEqualTo(2);
      assertThat(registry.get("agent.rounds").tag("outcome", "partial").counter().count()).isEqualTo(1);
      await(stallOver.future());
      EpisodeResult r1 = await(agent.runEpisode(40));
      assertThat(r1.observers()).as("and is back for episode 1").isEqualTo(3);
      assertThat(registry.get("agent.round.wait").timer().max(TimeUnit.MILLISECONDS))
          .as("no round waited much beyond the max wait").isLessThan(1_000.0);
    } finally {
      vertx.close();
    }
  }
}
