package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.agent.PolicyAgent;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.runtime.data.DataChannelConfig;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Determinism across deployments: the same seeded run in one process and clustered (an agent node
 * and one node per observer, Hazelcast on 127.0.0.1 in this JVM) ends with the same parameters and
 * rewards, bit for bit, in both modes. Every random draw is keyed by (seed, observer, step) and
 * each batch orders its rows by observer index, so neither arrival order nor the network may
 * change anything. Clustered, the observers send their steps over the agent's data channel; a
 * third clustered run with the data channel off ({@code --data-port -1}) sends them over the event
 * bus and ends with the same bits too.
 */
@ExtendWith({VertxExtension.class, LoopbackNodes.class})
class ClusteredDeterminismTest {

  private static final long SEED = 77;
  private static final int OBSERVERS = 2;
  private static final int EPISODES = 3;
  private static final int STEPS = 40;

  /** What a run ends with: every episode's outcome (less its duration) and the parameters. */
  private record Outcome(List<String> episodes, float[] parameters) {
    static Outcome of(List<EpisodeResult> results, float[] parameters) {
      List<String> e = new ArrayList<>();
      for (EpisodeResult r : results) {
        // Exact values: hex floats/doubles, so a one-ulp difference shows.
        e.add(r.episode() + " " + r.steps() + " " + Float.toHexString(r.loss()) + " "
            + Double.toHexString(r.episodeReward()) + " " + Double.toHexString(r.runningReward()));
      }
      return new Outcome(e, parameters);
    }
  }

  @Test
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void oneProcessAndClusteredEndWithTheSameParametersAndRewards(Vertx vertx, VertxTestContext ctx)
      throws IOException {
    String cluster = LoopbackNodes.clusterName("determinism");
    int agentPort = Ports.freePort();
    List<String> seed = List.of(LoopbackNodes.member(agentPort));
    NodeConfig agentNode = LoopbackNodes.config(cluster, agentPort, List.of());
    List<NodeConfig> observerNodes = new ArrayList<>();
    for (int i = 0; i < OBSERVERS; i++) {
      observerNodes.add(LoopbackNodes.config(cluster, Ports.freePort(), seed));
    }
    List<Node> nodes = new ArrayList<>();
    List<Outcome> local = new ArrayList<>();
    List<Outcome> clustered = new ArrayList<>();
    // Steps that reached the agent's node over the event bus, per clustered run.
    AtomicInteger busSteps = new AtomicInteger();
    List<Integer> busStepsPerRun = new ArrayList<>();

    // One process first: both modes on the test's plain Vert.x.
    AgentRuns.run(vertx, AgentConfig.of(OBSERVERS, AgentMode.BATCH, SEED), EPISODES, STEPS)
        .map(run -> local.add(Outcome.of(run.episodes(), run.parameters())))
        .compose(v -> AgentRuns.run(vertx, AgentConfig.of(OBSERVERS, AgentMode.NOBATCH, SEED), EPISODES, STEPS))
        .map(run -> local.add(Outcome.of(run.episodes(), run.parameters())))
        // Then clustered: the agent's node is the members' seed; each observer on a node of its own.
        .compose(v -> Nodes.start(agentNode)).map(n -> {
          n.vertx().eventBus().addInboundInterceptor(m -> {
            if (Addresses.AGENT_SELECT_ACTION.equals(m.message().address())) {
              busSteps.incrementAndGet();
            }
            m.next();
          });
          return nodes.add(n);
        })
        .compose(v -> startAll(observerNodes, nodes))
        .compose(v -> {
          List<Future<String>> deployed = new ArrayList<>();
          for (int i = 0; i < OBSERVERS; i++) {
            // Observers retry their registration until an agent answers, and register again
            // whenever an agent starts, so one set serves both modes' agents.
            deployed.add(nodes.get(1 + i).vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(i, SEED))));
          }
          return Future.all(deployed);
        })
        .compose(v -> runClustered(nodes.get(0), AgentMode.BATCH, DataChannelConfig.loopback()))
        .map(o -> clustered.add(o) && busStepsPerRun.add(busSteps.getAndSet(0)))
        .compose(v -> runClustered(nodes.get(0), AgentMode.NOBATCH, DataChannelConfig.loopback()))
        .map(o -> clustered.add(o) && busStepsPerRun.add(busSteps.getAndSet(0)))
        .compose(v -> runClustered(nodes.get(0), AgentMode.BATCH, DataChannelConfig.off()))
        .map(o -> clustered.add(o) && busStepsPerRun.add(busSteps.getAndSet(0)))
        .onComplete(ar -> closeAll(nodes).onComplete(closed -> {
          if (ar.failed()) {
            ctx.failNow(ar.cause());
            return;
          }
          ctx.verify(() -> {
            for (int m = 0; m < 2; m++) {
              String mode = m == 0 ? "batch" : "nobatch";
              assertThat(clustered.get(m).episodes()).as(mode + " episodes")
                  .hasSize(EPISODES).containsExactlyElementsOf(local.get(m).episodes());
              assertThat(clustered.get(m).parameters()).as(mode + " parameters")
                  .containsExactly(local.get(m).parameters());
            }
            assertThat(clustered.get(2).episodes()).as("batch over the event bus")
                .containsExactlyElementsOf(local.get(0).episodes());
            assertThat(clustered.get(2).parameters()).containsExactly(local.get(0).parameters());
            assertThat(busStepsPerRun).as("steps on the event bus: none with the data channel, all without")
                .containsExactly(0, 0, OBSERVERS * EPISODES * STEPS);
            // Guard against a vacuous pass: the updates moved the parameters.
            assertThat(local.get(0).parameters()).isNotEqualTo(initialParameters());
          });
          ctx.completeNow();
        }));
  }

  private static Future<Void> startAll(List<NodeConfig> configs, List<Node> nodes) {
    Future<Void> f = Future.succeededFuture();
    for (NodeConfig c : configs) {
      // One after another: each joins the cluster the previous ones formed.
      f = f.compose(v -> Nodes.start(c)).map(n -> {
        nodes.add(n);
        return null;
      });
    }
    return f;
  }

  private static Future<Outcome> runClustered(Node node, AgentMode mode, DataChannelConfig data) {
    AgentVerticle agent = new AgentVerticle(AgentConfig.of(OBSERVERS, mode, SEED), null, data);
    return node.vertx().deployVerticle(agent).compose(id -> agent.observersReady()
        .compose(v -> AgentRuns.episodes(agent, EPISODES, STEPS, new ArrayList<>()))
        .compose(results -> agent.parameters().map(p -> Outcome.of(results, p)))
        // Undeployed, so the next mode's agent has the addresses to itself.
        .compose(outcome -> node.vertx().undeploy(id).map(outcome)));
  }

  private static Future<Void> closeAll(List<Node> nodes) {
    // Observers' nodes first, the seed member last; failures to close do not hide the verdict.
    Future<Void> f = Future.succeededFuture();
    for (int i = nodes.size() - 1; i >= 0; i--) {
      Node n = nodes.get(i);
      f = f.transform(ignored -> n.close().otherwiseEmpty().mapEmpty());
    }
    return f;
  }

  private static float[] initialParameters() {
    try (PolicyAgent fresh = new PolicyAgent(new dev.batchrpc.compute.cpu.CpuBackend(), OBSERVERS, SEED,
        AgentConfig.DEFAULT_LR)) {
      return fresh.parameters();
    }
  }
}
