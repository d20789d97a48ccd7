package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
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
 * Issue 11, row 2, observers: a second observer process under a live observer's id (another
 * cluster node) is refused at registration with DUPLICATE and the reason ({@link
 * ObserverVerticle#refused()}, on which the {@code observer} command exits 1); the live one and
 * the episodes go on untouched.
 */
@ExtendWith(LoopbackNodes.class)
class DuplicateObserverIdTest {

  private static final long SEED = 9;
  private final List<Node> nodes = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("dup-observer");

  @AfterEach
  void closeNodes() {
    LoopbackNodes.closeQuietly(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 90);
  }

  private Node node(int port, List<String> members) throws Exception {
    Node n = await(Nodes.start(NodeConfig.clustered(cluster, LoopbackNodes.LOOPBACK, port, members)));
    nodes.add(n);
    return n;
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aSecondObserverUnderALiveIdIsRefusedAndTheLiveOneGoesOn() throws Exception {
    int agentPort = Ports.freePort();
    Node agentNode = node(agentPort, List.of());
    List<String> seed = List.of(LoopbackNodes.member(agentPort));
    AgentVerticle agent = new AgentVerticle(AgentConfig.of(2, AgentMode.BATCH, SEED), agentNode.registry());
    await(agentNode.vertx().deployVerticle(agent));
    for (int i = 0; i < 2; i++) {
      Node n = node(Ports.freePort(), seed);
      await(n.vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(i, SEED))));
    }
    await(agent.observersReady());

    Node impostorNode = node(Ports.freePort(), seed);
    ObserverVerticle impostor = new ObserverVerticle(ObserverConfig.of(0, SEED));
    await(impostorNode.vertx().deployVerticle(impostor));
    Throwable refused = LoopbackNodes.outcome(impostor.refused(), 30_000);
    assertThat(refused).isInstanceOf(RpcException.class).hasMessageContaining("observer-0")
        .hasMessageContaining("live on another cluster node").hasMessageContaining("--id");
    assertThat(((RpcException) refused).code()).isEqualTo(FailureCode.DUPLICATE);

    EpisodeResult r = await(agent.runEpisode(20));
    assertThat(r.steps()).isEqualTo(20);
  }
}
