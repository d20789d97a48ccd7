package dev.batchrpc.suite.agent;

import static dev.batchrpc.suite.agent.AgentBadInputTest.code;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.PolicyAgent;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.observer.ActionSource;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.AgentGrpcClient;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.grpc.client.InvalidStatusException;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The agent's transport-level bad input (beside {@link AgentBadInputTest}'s request checks):
 * oversized and malformed messages and bodies of another type on the event bus and over gRPC, a
 * state longer than CartPole's, and episodes too long to record. Each gets its code or status and
 * the run ends exactly like a clean one.
 */
@ExtendWith(VertxExtension.class)
class AgentTransportBadInputTest {

  private static final long SEED = 23;
  private static final int STEPS = 15;
  private static final byte[] MALFORMED = {0x0A, 0x7F, 'x'};
  /** A state of 1.1M floats: 4.4 MB, over the agent's 4 MiB message limit on both transports. */
  private static final int HUGE = 1_100_000;

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void garbageOnEitherTransportIsRefusedAndTheRunEndsLikeACleanOne(Vertx vertx, VertxTestContext ctx) {
    Map<String, Object> answers = new ConcurrentHashMap<>();
    GrpcClient big = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(64L << 20));
    GrpcClient raw = GrpcClient.client(vertx);
    int[] port = new int[1];
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED).withGrpc("127.0.0.1", 0);
    AgentRuns.run(vertx, AgentConfig.of(2, AgentMode.BATCH, SEED), 2, STEPS)
        .compose(clean -> AgentRuns.run(vertx, config, null, 2, STEPS,
                (i, v) -> i == 0 ? misbehaving(AgentRuns.eventBus(v), v, big, raw, port, answers) : AgentRuns.eventBus(v),
                agent -> port[0] = agent.grpcPort())
            .map(dirty -> List.of(clean, dirty)))
        .onComplete(ctx.succeeding(runs -> ctx.verify(() -> {
          assertThat(answers).containsEntry("bus: longer state", FailureCode.SHAPE_MISMATCH)
              .containsEntry("bus: oversized", FailureCode.TOO_LARGE)
              .containsEntry("bus: malformed bytes", FailureCode.BAD_REQUEST)
              .containsEntry("bus: string body", FailureCode.BAD_REQUEST)
              .containsEntry("bus: malformed register", FailureCode.BAD_REQUEST)
              .containsEntry("bus: json register", FailureCode.BAD_REQUEST)
              .containsEntry("grpc: longer state", "INVALID_ARGUMENT")
              .containsEntry("grpc: oversized", "RESOURCE_EXHAUSTED")
              .containsEntry("grpc: malformed bytes", "INVALID_ARGUMENT")
              .containsEntry("grpc: malformed register", "INVALID_ARGUMENT")
              .hasSize(10);
          // the refusals changed nothing: same parameters and rewards as the clean run
          assertThat(runs.get(1).parameters()).containsExactly(runs.get(0).parameters());
          assertThat(runs.get(1).episodes().get(1).runningReward())
              .isEqualTo(runs.get(0).episodes().get(1).runningReward());
          ctx.completeNow();
        })));
  }

  /**
   * Observer 0: before its first real step sends every kind of garbage; then sends that step as
   * protobuf bytes in a Buffer, which the agent accepts like the message itself.
   */
  private static ActionSource misbehaving(ActionSource bus, Vertx vertx, GrpcClient big, GrpcClient raw, int[] port,
                                          Map<String, Object> answers) {
    return q -> {
      if (q.getEpisode() != 0 || q.getStep() != 0) {
        return bus.selectAction(q);
      }
      SocketAddress grpc = SocketAddress.inetSocketAddress(port[0], "127.0.0.1");
      AgentGrpcClient client = AgentGrpcClient.create(big, grpc);
      SelectActionRequest longer = q.toBuilder().setState(Tensors.vector(new float[5])).build();
      SelectActionRequest huge = q.toBuilder().setState(Tensors.vector(new float[HUGE])).build();
      return code(bus.selectAction(longer), answers, "bus: longer state")
          .compose(v -> code(bus.selectAction(huge), answers, "bus: oversized"))
          .compose(v -> code(request(vertx, Addresses.AGENT_SELECT_ACTION, Buffer.buffer(MALFORMED)), answers,
              "bus: malformed bytes"))
          .compose(v -> code(request(vertx, Addresses.AGENT_SELECT_ACTION, "observer-0"), answers, "bus: string body"))
          .compose(v -> code(request(vertx, Addresses.AGENT_REGISTER, MALFORMED), answers, "bus: malformed register"))
          .compose(v -> code(request(vertx, Addresses.AGENT_REGISTER, new JsonObject().put("observer_id", "x")),
              answers, "bus: json register"))
          .compose(v -> status(client.selectAction(longer), answers, "grpc: longer state"))
          .compose(v -> status(client.selectAction(huge), answers, "grpc: oversized"))
          .compose(v -> rawStatus(raw, grpc, "batchrpc.v1.Agent/SelectAction", answers, "grpc: malformed bytes"))
          .compose(v -> rawStatus(raw, grpc, "batchrpc.v1.Agent/RegisterObserver", answers, "grpc: malformed register"))
          .compose(v -> vertx.eventBus().<SelectActionReply>request(Addresses.AGENT_SELECT_ACTION,
              Buffer.buffer(q.toByteArray()), new DeliveryOptions().setSendTimeout(10_000)))
          .map(m -> m.body());
    };
  }

  private static Future<Object> request(Vertx vertx, String address, Object body) {
    return vertx.eventBus().request(address, body, new DeliveryOptions().setSendTimeout(10_000)).map(m -> m.body());
  }

  private static Future<Void> status(Future<?> f, Map<String, Object> answers, String key) {
    return f.transform(ar -> {
      answers.put(key, ar.succeeded() ? "accepted!" : ar.cause() instanceof InvalidStatusException e
          ? e.actualStatus().name() : ar.cause().toString());
      return Future.succeededFuture();
    });
  }

  private static Future<Void> rawStatus(GrpcClient raw, SocketAddress grpc, String method, Map<String, Object> answers,
                                        String key) {
    return raw.request(grpc)
        .compose(req -> req.fullMethodName(method).send(Buffer.buffer(MALFORMED)))
        .compose(resp -> resp.end().transform(ar -> {
          answers.put(key, resp.statusMessage().startsWith("malformed " + method + " request")
              ? resp.status().name() : resp.status().name() + " " + resp.statusMessage());
          return Future.succeededFuture();
        }));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void anEpisodeOverTheStepLimitIsRefusedAndTheNextOneRuns(Vertx vertx, VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    AgentVerticle agent = new AgentVerticle(AgentConfig.of(1, AgentMode.BATCH, SEED), null);
    vertx.deployVerticle(agent)
        .compose(id -> vertx.deployVerticle(new ObserverVerticle(ObserverConfig.of(0, SEED))))
        .compose(id -> agent.observersReady())
        .compose(v -> agent.runEpisode(Addresses.MAX_EPISODE_STEPS + 1).transform(ar -> Future.succeededFuture(ar.cause())))
        .compose(refused -> {
          ctx.verify(() -> {
            assertThat(RpcException.of(refused).code()).isEqualTo(FailureCode.BAD_REQUEST);
            assertThat(refused).hasMessageContaining("at most 1000000, got 1000001");
          });
          return agent.runEpisode(STEPS);
        })
        .onComplete(ctx.succeeding(r -> ctx.verify(() -> {
          assertThat(r.steps()).isEqualTo(STEPS);
          assertThat(r.episode()).isEqualTo(0);
          ctx.completeNow();
        })));
  }

  @Test
  void anEpisodeRecordTooLargeForOneArrayIsRefusedBeforeAllocating() {
    // 17 observers x 1,000,000 steps x 128 dropout scales does not fit one Java array
    try (PolicyAgent agent = new PolicyAgent(new CpuBackend(), 17, SEED, AgentConfig.DEFAULT_LR)) {
      assertThatThrownBy(() -> agent.beginEpisode(Addresses.MAX_EPISODE_STEPS))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("n_steps 1000000 x 17 observers is too long an episode");
      assertThat(agent.steps()).isZero();
      agent.beginEpisode(10);
      assertThat(agent.steps()).isEqualTo(10);
    }
  }
}
