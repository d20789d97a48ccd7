package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.PolicyAgent;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.AgentGrpcClient;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.InvalidStatusException;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The agent with in-process observers over the event bus (and one over gRPC). */
@ExtendWith(VertxExtension.class)
class AgentVerticleTest {

  private static final long SEED = 5;

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void batchModeRunsOneForwardPassPerStepAndEachObserverGetsItsOwnAction(Vertx vertx, VertxTestContext ctx) {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    int steps = 25;
    AgentConfig config = AgentConfig.of(3, AgentMode.BATCH, SEED);
    AgentRuns.run(vertx, config, registry, 1, steps, (i, v) -> AgentRuns.eventBus(v))
        .onComplete(ctx.succeeding(run -> ctx.verify(() -> {
          DistributionSummary size = registry.get("agent.round.size").summary();
          assertThat(size.count()).as("rounds = steps").isEqualTo(steps);
          assertThat(size.totalAmount()).isEqualTo(3.0 * steps);
          assertThat(run.exchanges()).hasSize(3 * steps)
              .allSatisfy(e -> assertThat(e.reply().getBatchSize()).isEqualTo(3));
          // Replay: a fresh PolicyAgent fed the same states step by step gives each observer
          // exactly the action and probabilities it received (params are fixed within an episode).
          try (PolicyAgent replay = new PolicyAgent(new CpuBackend(), 3, SEED, AgentConfig.DEFAULT_LR)) {
            replay.beginEpisode(steps);
            List<List<AgentRuns.Exchange>> per = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
              per.add(AgentRuns.of(run.exchanges(), "observer-" + i));
            }
            for (int t = 0; t < steps; t++) {
              float[][] states = new float[3][];
              for (int i = 0; i < 3; i++) {
                assertThat(per.get(i).get(t).request().getStep()).isEqualTo(t);
                states[i] = Tensors.toFloats(per.get(i).get(t).request().getState());
              }
              var act = replay.act(t, new int[] {0, 1, 2}, states);
              for (int i = 0; i < 3; i++) {
                SelectActionReply got = per.get(i).get(t).reply();
                assertThat(got.getAction()).isEqualTo(act.actions()[i]);
                assertThat(got.getProbabilities(0)).isEqualTo(act.probs().get(i, 0));
              }
            }
          }
          assertThat(run.episodes().get(0).episodeReward()).isBetween(1.0, (double) steps);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void withOneObserverBatchAndNonBatchGiveTheSameTrajectoryAndParameters(Vertx vertx, VertxTestContext ctx) {
    int episodes = 3;
    int steps = 60;
    AgentRuns.run(vertx, AgentConfig.of(1, AgentMode.BATCH, SEED), episodes, steps)
        .compose(batch -> AgentRuns.run(vertx, AgentConfig.of(1, AgentMode.NOBATCH, SEED), episodes, steps)
            .map(nobatch -> List.of(batch, nobatch)))
        .onComplete(ctx.succeeding(runs -> ctx.verify(() -> {
          AgentRuns.Run batch = runs.get(0);
          AgentRuns.Run nobatch = runs.get(1);
          assertThat(batch.exchanges()).hasSize(episodes * steps);
          assertThat(nobatch.exchanges()).hasSize(episodes * steps);
          for (int k = 0; k < batch.exchanges().size(); k++) {
            AgentRuns.Exchange a = batch.exchanges().get(k);
            AgentRuns.Exchange b = nobatch.exchanges().get(k);
            assertThat(b.request()).isEqualTo(a.request());
            assertThat(b.reply()).isEqualTo(a.reply());
          }
          assertThat(nobatch.parameters()).containsExactly(batch.parameters());
          for (int e = 0; e < episodes; e++) {
            assertThat(nobatch.episodes().get(e).runningReward()).isEqualTo(batch.episodes().get(e).runningReward());
          }
          // Learning happened: the parameters moved from their initial values.
          try (PolicyAgent fresh = new PolicyAgent(new CpuBackend(), 1, SEED, AgentConfig.DEFAULT_LR)) {
            assertThat(batch.parameters()).isNotEqualTo(fresh.parameters());
          }
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aGrpcObserverJoinsTheBatchRoundsOfEventBusObservers(Vertx vertx, VertxTestContext ctx) {
    int steps = 30;
    AgentConfig grpcConfig = AgentConfig.of(2, AgentMode.BATCH, SEED).withGrpc("127.0.0.1", 0);
    GrpcClient client = GrpcClient.client(vertx);
    // The gRPC port is known once the agent listens; the observer's source looks it up per call.
    int[] port = new int[1];
    AgentRuns.run(vertx, AgentConfig.of(2, AgentMode.BATCH, SEED), 2, steps)
        .compose(reference -> {
          return AgentRuns.run(vertx, grpcConfig, null, 2, steps, (i, v) -> i == 1
                  ? q -> grpcSelect(client, port[0], q)
                  : AgentRuns.eventBus(v), agent -> port[0] = agent.grpcPort())
              .map(viaGrpc -> List.of(reference, viaGrpc));
        })
        .onComplete(ctx.succeeding(runs -> ctx.verify(() -> {
          AgentRuns.Run viaGrpc = runs.get(1);
          assertThat(AgentRuns.of(viaGrpc.exchanges(), "observer-1")).hasSize(2 * steps)
              .allSatisfy(e -> assertThat(e.reply().getBatchSize()).isEqualTo(2));
          // Same draws, same rounds: the transport changes nothing.
          assertThat(viaGrpc.parameters()).containsExactly(runs.get(0).parameters());
          ctx.completeNow();
        })));
  }

  private static Future<SelectActionReply> grpcSelect(GrpcClient client, int port, SelectActionRequest q) {
    return AgentGrpcClient.create(client, SocketAddress.inetSocketAddress(port, "127.0.0.1")).selectAction(q);
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void badEpisodeLengthIsRefused(Vertx vertx, VertxTestContext ctx) {
    AgentVerticle agent = new AgentVerticle(AgentConfig.of(1, AgentMode.BATCH, SEED), null);
    vertx.deployVerticle(agent)
        .compose(id -> agent.runEpisode(0).transform(ar -> Future.succeededFuture(ar.cause())))
        .onComplete(ctx.succeeding(e -> ctx.verify(() -> {
          assertThat(RpcException.of(e).code()).isEqualTo(FailureCode.BAD_REQUEST);
          assertThat(e).hasMessageContaining("must be > 0 and at most 1000000, got 0");
          ctx.completeNow();
        })));
  }

  static void expectStatus(Throwable e, GrpcStatus status) {
    assertThat(e).isInstanceOf(InvalidStatusException.class);
    assertThat(((InvalidStatusException) e).actualStatus()).isEqualTo(status);
  }
}
