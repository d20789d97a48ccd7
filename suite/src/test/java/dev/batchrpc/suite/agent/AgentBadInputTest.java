package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.observer.ActionSource;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.AgentGrpcClient;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
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
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every bad action request is refused with its code, and the run ends exactly like a clean one. */
@ExtendWith(VertxExtension.class)
class AgentBadInputTest {

  private static final long SEED = 11;
  private static final int STEPS = 20;

  @Test
  @Timeout(value = 40, timeUnit = TimeUnit.SECONDS)
  void badRequestsAreRefusedAndHarmNoRound(Vertx vertx, VertxTestContext ctx) {
    Map<String, Object> codes = new ConcurrentHashMap<>();
    List<Throwable> grpcFailures = Collections.synchronizedList(new ArrayList<>());
    GrpcClient grpc = GrpcClient.client(vertx);
    int[] port = new int[1];
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED).withGrpc("127.0.0.1", 0);
    AgentRuns.run(vertx, AgentConfig.of(2, AgentMode.BATCH, SEED), 2, STEPS)
        .compose(clean -> AgentRuns.run(vertx, config, null, 2, STEPS,
                (i, v) -> i == 0 ? misbehaving(AgentRuns.eventBus(v), v, grpc, port, codes, grpcFailures)
                    : AgentRuns.eventBus(v),
                agent -> port[0] = agent.grpcPort())
            .map(dirty -> List.of(clean, dirty)))
        .compose(runs -> AgentRuns.eventBus(vertx).selectAction(request("observer-0", 0, 0, new float[4]))
            .transform(ar -> {
              // No episode is running any more.
              codes.put("after", RpcException.of(ar.cause()).code());
              return Future.succeededFuture(runs);
            }))
        .onComplete(ctx.succeeding(runs -> ctx.verify(() -> {
          assertThat(codes).containsEntry("unknown", FailureCode.UNKNOWN_PARTICIPANT)
              .containsEntry("shape", FailureCode.SHAPE_MISMATCH)
              .containsEntry("nan", FailureCode.NON_FINITE)
              .containsEntry("episode", FailureCode.BAD_REQUEST)
              .containsEntry("skip", FailureCode.BAD_REQUEST)
              .containsEntry("duplicate", FailureCode.DUPLICATE)
              .containsEntry("register", FailureCode.UNKNOWN_PARTICIPANT)
              .containsEntry("after", FailureCode.UNAVAILABLE);
          assertThat(grpcFailures).hasSize(2).allSatisfy(e -> assertThat(e).isInstanceOf(InvalidStatusException.class));
          assertThat(((InvalidStatusException) grpcFailures.get(0)).actualStatus()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
          assertThat(((InvalidStatusException) grpcFailures.get(1)).actualStatus()).isEqualTo(GrpcStatus.FAILED_PRECONDITION);
          // The refusals changed nothing: same parameters as the clean run.
          assertThat(runs.get(1).parameters()).containsExactly(runs.get(0).parameters());
          assertThat(runs.get(1).episodes().get(1).runningReward())
              .isEqualTo(runs.get(0).episodes().get(1).runningReward());
          ctx.completeNow();
        })));
  }

  /** Observer 0: before its first real step sends every kind of bad request; after it, a duplicate. */
  private static ActionSource misbehaving(ActionSource bus, Vertx vertx, GrpcClient grpc, int[] port,
                                          Map<String, Object> codes, List<Throwable> grpcFailures) {
    return q -> {
      if (q.getEpisode() != 0 || q.getStep() != 0) {
        return bus.selectAction(q);
      }
      float[] state = Tensors.toFloats(q.getState());
      AgentGrpcClient client = AgentGrpcClient.create(grpc, SocketAddress.inetSocketAddress(port[0], "127.0.0.1"));
      return code(bus.selectAction(request("ghost", 0, 0, state)), codes, "unknown")
          .compose(v -> code(bus.selectAction(q.toBuilder().setState(Tensors.vector(new float[3])).build()), codes, "shape"))
          .compose(v -> code(bus.selectAction(request("observer-0", 0, 0, new float[] {0f, Float.NaN, 0f, 0f})), codes, "nan"))
          .compose(v -> code(bus.selectAction(request("observer-0", 5, 0, state)), codes, "episode"))
          .compose(v -> code(bus.selectAction(request("observer-0", 0, 3, state)), codes, "skip"))
          .compose(v -> code(vertx.eventBus().request(dev.batchrpc.proto.Addresses.AGENT_REGISTER,
              RegisterObserverRequest.newBuilder().setObserverId("ghost").build(),
              dev.batchrpc.proto.ProtobufCodec.options(5000)), codes, "register"))
          .compose(v -> client.selectAction(request("observer-0", 0, 0, new float[] {Float.POSITIVE_INFINITY, 0, 0, 0}))
              .transform(ar -> {
                grpcFailures.add(ar.cause());
                return client.selectAction(request("ghost", 0, 0, state));
              }).transform(ar -> {
                grpcFailures.add(ar.cause());
                return Future.succeededFuture();
              }))
          .compose(v -> bus.selectAction(q))
          .compose(reply -> code(bus.selectAction(q), codes, "duplicate").map(reply));
    };
  }

  /** Records under {@code key} the failure code of {@code f} ("accepted!" if it succeeded). */
  static Future<Void> code(Future<?> f, Map<String, Object> codes, String key) {
    return f.transform(ar -> {
      codes.put(key, ar.succeeded() ? "accepted!" : RpcException.of(ar.cause()).code());
      return Future.succeededFuture();
    });
  }

  private static SelectActionRequest request(String id, long episode, int step, float[] state) {
    return SelectActionRequest.newBuilder().setObserverId(id).setEpisode(episode).setStep(step)
        .setState(Tensors.vector(state)).build();
  }
}
