package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.optim.Sgd;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.UpdateRequest;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
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

/** The parameter server over the local event bus and gRPC (127.0.0.1). */
@ExtendWith(VertxExtension.class)
class ParameterServerVerticleTest {

  static final int P = 1000;
  private static final ModelSpec MODEL = ModelSpec.replay(P);

  /** A deterministic gradient for trainer {@code t} in round {@code r}. */
  static float[] gradient(int t, int r) {
    float[] g = new float[P];
    for (int i = 0; i < P; i++) {
      g[i] = (float) Math.sin(0.37 * i + 1.3 * t + 0.71 * r) * (1 + t);
    }
    return g;
  }

  static UpdateRequest update(String id, long version, float[] g) {
    return UpdateRequest.newBuilder().setParticipantId(id).setModelVersion(version)
        .setGradients(Tensors.vector(g)).build();
  }

  static Future<ModelReply> send(Vertx vertx, UpdateRequest q) {
    return vertx.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH, q, ProtobufCodec.options())
        .map(Message::body);
  }

  static Future<ModelReply> get(Vertx vertx, String id) {
    return vertx.eventBus().<ModelReply>request(Addresses.PS_GET_MODEL,
        GetModelRequest.newBuilder().setParticipantId(id).build(), ProtobufCodec.options()).map(Message::body);
  }

  /** Succeeds with the failure code of a refused request; fails if it was accepted. */
  static Future<FailureCode> refusal(Future<?> f) {
    return f.transform(ar -> ar.succeeded()
        ? Future.failedFuture(new AssertionError("accepted but should have been refused"))
        : Future.succeededFuture(FailureCode.of(((ReplyException) ar.cause()).failureCode())));
  }

  /** The plain single-process loop: sum, average, one SGD step per round. */
  static float[][] reference(float[] p0, List<float[][]> rounds) {
    CpuBackend backend = new CpuBackend();
    DeviceArray params = backend.upload(p0);
    float[][] out = new float[rounds.size()][];
    try (Sgd sgd = new Sgd(backend, params, backend.allocate(p0.length), 0.001f, 0.9f)) {
      for (int r = 0; r < rounds.size(); r++) {
        float[][] gs = rounds.get(r);
        float[] stacked = new float[gs.length * p0.length];
        for (int i = 0; i < gs.length; i++) {
          System.arraycopy(gs[i], 0, stacked, i * p0.length, p0.length);
        }
        sgd.stepAveraged(backend.upload(stacked), gs.length);
        out[r] = backend.download(params);
      }
    }
    return out;
  }

  private static Future<ParameterServerVerticle> deploy(Vertx vertx, PsConfig config) {
    ProtobufCodec.register(vertx);
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    return vertx.deployVerticle(v).map(id -> v);
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void everyTrainerGetsTheSameModelAndBadInputHarmsNeitherRoundNorModel(Vertx vertx, VertxTestContext ctx) {
    float[] p0 = MODEL.initialParameters(0);
    float[][] round1 = {gradient(0, 0), gradient(1, 0), gradient(2, 0)};
    float[][] round2 = {gradient(0, 1), gradient(1, 1), gradient(2, 1)};
    float[][] expected = reference(p0, List.of(round1, round2));
    float[] nan = gradient(1, 0);
    nan[P - 1] = Float.NaN;
    float[] inf = gradient(1, 0);
    inf[3] = Float.NEGATIVE_INFINITY;
    List<FailureCode> codes = new ArrayList<>();

    deploy(vertx, PsConfig.of(3, MODEL).withParticipants("a", "b", "c")).compose(v -> get(vertx, "a"))
        .compose(m0 -> {
          ctx.verify(() -> {
            assertThat(m0.getModelVersion()).isZero();
            assertThat(Tensors.toFloats(m0.getParameters())).containsExactly(p0);
          });
          // the bad-input table: each refused at once, none joins the open round
          return Future.all(List.of(
              refusal(send(vertx, update("b", 0, new float[P - 1]))),
              refusal(send(vertx, update("b", 1, round1[1]))),
              refusal(send(vertx, update("b", 0, nan))),
              refusal(send(vertx, update("b", 0, inf))),
              refusal(send(vertx, update("zz", 0, round1[1]))),
              refusal(send(vertx, update("", 0, round1[1])))));
        })
        .compose(table -> {
          codes.addAll(table.<FailureCode>list());
          // a's first request joins; its duplicate is refused and the first one stays
          Future<ModelReply> a = send(vertx, update("a", 0, round1[0]));
          Future<FailureCode> dup = refusal(send(vertx, update("a", 0, round2[0]))).onSuccess(codes::add);
          return dup.compose(d -> Future.all(a, send(vertx, update("b", 0, round1[1])),
              send(vertx, update("c", 0, round1[2]))));
        })
        .compose(all -> {
          List<ModelReply> replies = all.list();
          ctx.verify(() -> {
            assertThat(codes).containsExactly(FailureCode.SHAPE_MISMATCH, FailureCode.FUTURE_VERSION,
                FailureCode.NON_FINITE, FailureCode.NON_FINITE, FailureCode.UNKNOWN_PARTICIPANT,
                FailureCode.BAD_REQUEST, FailureCode.DUPLICATE);
            for (ModelReply r : replies) {
              assertThat(r.getModelVersion()).isEqualTo(1);
              assertThat(r.getRoundSize()).isEqualTo(3);
              // one reply object per round, sent to every trainer
              assertThat(r.getParameters().getData()).isSameAs(replies.get(0).getParameters().getData());
            }
            assertThat(Tensors.toFloats(replies.get(0).getParameters())).containsExactly(expected[0]);
          });
          return refusal(send(vertx, update("a", 0, round2[0])));
        })
        .compose(stale -> {
          ctx.verify(() -> assertThat(stale).isEqualTo(FailureCode.STALE_VERSION));
          return Future.all(send(vertx, update("c", 1, round2[2])), send(vertx, update("a", 1, round2[0])),
              send(vertx, update("b", 1, round2[1])));
        })
        .compose(all -> get(vertx, "").map(m -> {
          ModelReply r = all.resultAt(0);
          // arrival order c, a, b: float sums differ from a, b, c only in rounding
          dev.batchrpc.compute.Fixtures.assertClose("round 2", Tensors.toFloats(r.getParameters()),
              expected[1], 1e-7, 1e-6);
          assertThat(m.getModelVersion()).isEqualTo(2);
          assertThat(m.getParameters()).isEqualTo(r.getParameters());
          return m;
        }))
        .onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void staleVersionMessageNamesBothVersions(Vertx vertx, VertxTestContext ctx) {
    deploy(vertx, PsConfig.of(1, MODEL).withParticipants("a"))
        .compose(v -> send(vertx, update("a", 7, gradient(0, 0))))
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(e).hasMessageContaining("future model version 7")
              .hasMessageContaining("server is at version 0");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void registrationModeAdmitsOnlyTrainersThatFetchedTheModel(Vertx vertx, VertxTestContext ctx) {
    deploy(vertx, PsConfig.of(1, MODEL))
        .compose(v -> refusal(send(vertx, update("t1", 0, gradient(0, 0)))))
        .compose(code -> {
          ctx.verify(() -> assertThat(code).isEqualTo(FailureCode.UNKNOWN_PARTICIPANT));
          return get(vertx, "t1");
        })
        .compose(m -> send(vertx, update("t1", m.getModelVersion(), gradient(0, 0))))
        .onComplete(ctx.succeeding(r -> ctx.verify(() -> {
          assertThat(r.getModelVersion()).isEqualTo(1);
          assertThat(r.getRoundSize()).isEqualTo(1);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void grpcTrainersJoinTheSameRoundsAndGetMatchingStatuses(Vertx vertx, VertxTestContext ctx) {
    float[] p0 = MODEL.initialParameters(0);
    float[][] round1 = {gradient(0, 0), gradient(1, 0), gradient(2, 0)};
    float[] expected = reference(p0, List.<float[][]>of(round1))[0];
    PsConfig config = PsConfig.of(3, MODEL).withParticipants("a", "b", "py").withGrpcPort(0);
    List<GrpcStatus> statuses = new ArrayList<>();
    deploy(vertx, config).compose(v -> {
      GrpcClient client = GrpcClient.client(vertx,
          new GrpcClientOptions().setMaxMessageSize(config.grpcMaxMessageBytes()));
      ParameterServerGrpcClient grpc = ParameterServerGrpcClient.create(client,
          SocketAddress.inetSocketAddress(v.grpcPort(), "127.0.0.1"));
      return grpc.getModel(GetModelRequest.newBuilder().setParticipantId("py").build())
          .compose(m -> {
            ctx.verify(() -> assertThat(Tensors.toFloats(m.getParameters())).containsExactly(p0));
            return Future.all(
                grpcStatus(grpc.updateAndFetchModel(update("py", 0, new float[3]))),
                grpcStatus(grpc.updateAndFetchModel(update("py", 5, round1[2]))),
                grpcStatus(grpc.updateAndFetchModel(update("nobody", 0, round1[2]))));
          })
          .compose(table -> {
            statuses.addAll(table.<GrpcStatus>list());
            return Future.all(send(vertx, update("a", 0, round1[0])), send(vertx, update("b", 0, round1[1])),
                grpc.updateAndFetchModel(update("py", 0, round1[2])));
          });
    }).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      assertThat(statuses).containsExactly(GrpcStatus.INVALID_ARGUMENT, GrpcStatus.FAILED_PRECONDITION,
          GrpcStatus.FAILED_PRECONDITION);
      for (int i = 0; i < 3; i++) {
        ModelReply r = all.resultAt(i);
        assertThat(r.getModelVersion()).isEqualTo(1);
        dev.batchrpc.compute.Fixtures.assertClose("trainer " + i, Tensors.toFloats(r.getParameters()),
            expected, 1e-7, 1e-6);
      }
      ctx.completeNow();
    })));
  }

  private static Future<GrpcStatus> grpcStatus(Future<?> f) {
    return f.transform(ar -> ar.succeeded()
        ? Future.failedFuture(new AssertionError("accepted but should have been refused"))
        : Future.succeededFuture(((InvalidStatusException) ar.cause()).actualStatus()));
  }
}
