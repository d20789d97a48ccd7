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
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 11, row 5: the agent is restarted while its observers keep running. The observers register
 * with the new agent at once (within seconds, far below the agent's register timeout) and the
 * new agent's episodes run with all of them; also when the old agent died mid-episode, leaving the
 * observers waiting for actions that will never come.
 */
@ExtendWith(LoopbackNodes.class)
class AgentRestartTest {

  private static final long SEED = 5;
  private static final int MEMBER_TIMEOUT_S = 3;
  /** Far below the observers' action timeout (60 s): a restart must not wait for it. */
  private static final long REGISTERED_WITHIN_MS = 15_000;
  private final List<Node> nodes = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("agent-restart");

  @AfterEach
  void closeNodes() {
    LoopbackNodes.closeQuietly(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 90);
  }

  private Node node(List<String> members) throws Exception {
    Node n = await(Nodes.start(NodeConfig.clustered(cluster, LoopbackNodes.LOOPBACK, Ports.freePort(), members)
        .withMemberTimeoutS(MEMBER_TIMEOUT_S)));
    nodes.add(n);
    return n;
  }

  private static AgentVerticle agent(Node node) throws Exception {
    AgentVerticle agent = new AgentVerticle(AgentConfig.of(2, AgentMode.BATCH, SEED), node.registry());
    await(node.vertx().deployVerticle(agent));
    return agent;
  }

  /**
   * Two observers on nodes of their own, registered with {@code agent} and through one episode.
   *
   * @return each observer's registration changes ("UP", "DOWN: reason"), as it goes on
   */
  private List<List<String>> observers(List<String> seed, AgentVerticle agent) throws Exception {
    List<List<String>> states = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      List<String> mine = new java.util.concurrent.CopyOnWriteArrayList<>();
      states.add(mine);
      await(node(seed).vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(i, SEED))
          .onRegistration((registered, reason) -> mine.add(registered ? "UP" : "DOWN: " + reason))));
    }
    await(agent.observersReady());
    assertThat(await(agent.runEpisode(20)).observers()).isEqualTo(2);
    return states;
  }

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void observersRegisterAtOnceWithAnAgentRestartedAfterACrashMidEpisode() throws Exception {
    List<String> seed = List.of(LoopbackNodes.member(node(List.of())));
    Node agentNode = node(seed);
    AgentVerticle first = agent(agentNode);
    // What each observer's /health/ready condition "agent" would say, change by change.
    List<List<String>> states = observers(seed, first);
    List<Integer> before = states.stream().map(List::size).toList();

    // The agent's node dies mid-episode: both observers wait for an action that never comes.
    first.runEpisode(10_000);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (agentNode.registry().get("agent.actions.served").counter().count() < 200) {
      assertThat(System.nanoTime()).as("steps flowing").isLessThan(deadline);
      Thread.sleep(5);
    }
    nodes.remove(agentNode);
    LoopbackNodes.crash(agentNode);
    agentNode.vertx().close();

    long restarted = System.nanoTime();
    Node again = node(seed);
    AgentVerticle second = agent(again);
    long deployedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - restarted);
    await(second.observersReady().timeout(REGISTERED_WITHIN_MS, TimeUnit.MILLISECONDS));
    long registeredMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - restarted);
    EpisodeResult r = await(second.runEpisode(20));
    System.out.printf("[rejoin-test] agent restarted after a crash mid-episode: deployed in %d ms, both "
        + "observers registered %d ms after the restart began, first episode with %d of 2%n", deployedMs,
        registeredMs, r.observers());
    assertThat(r.observers()).as("the new agent's first episode runs with every observer").isEqualTo(2);
    assertThat(r.steps()).isEqualTo(20);
    for (int i = 0; i < 2; i++) {
      List<String> since = states.get(i).subList(before.get(i), states.get(i).size());
      assertThat(since).as("observer %d's readiness: down with the reason, then up", i)
          .anySatisfy(st -> assertThat(st).startsWith("DOWN: not registered with an agent"))
          .last().isEqualTo("UP");
    }
  }

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void observersRegisterAtOnceWithAnAgentStoppedCleanlyAndStartedAgain() throws Exception {
    List<String> seed = List.of(LoopbackNodes.member(node(List.of())));
    Node agentNode = node(seed);
    AgentVerticle first = agent(agentNode);
    observers(seed, first);
    nodes.remove(agentNode);
    await(agentNode.close());

    long restarted = System.nanoTime();
    AgentVerticle second = agent(node(seed));
    await(second.observersReady().timeout(REGISTERED_WITHIN_MS, TimeUnit.MILLISECONDS));
    long registeredMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - restarted);
    EpisodeResult r = await(second.runEpisode(20));
    System.out.printf("[rejoin-test] agent stopped and started again: both observers registered %d ms "
        + "after the restart began, first episode with %d of 2%n", registeredMs, r.observers());
    assertThat(r.observers()).isEqualTo(2);
  }
}
