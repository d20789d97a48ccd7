package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.gradient;
import static dev.batchrpc.ps.ParameterServerVerticleTest.reference;
import static dev.batchrpc.ps.ParameterServerVerticleTest.refusal;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.Tensor;
import io.vertx.core.CompositeFuture;
import dev.batchrpc.runtime.grpc.GrpcFailures;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.grpc.client.InvalidStatusException;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The parameter server's transport-level bad input (the rows of docs/bad-input.md that the
 * request checks of {@link ParameterServerVerticleTest} do not cover): oversized messages,
 * malformed protobuf bytes, bodies of another type, gradients longer than the model. Each is
 * refused with its code or status, the server keeps serving, and the round that follows produces
 * exactly the model it would have produced without them.
 */
@ExtendWith(VertxExtension.class)
class ParameterServerBadInputTest {

  private static final int P = 1000;
  private static final ModelSpec MODEL = ModelSpec.replay(P);
  private static final PsConfig CONFIG = PsConfig.of(3, MODEL).withParticipants("a", "b", "py").withGrpcPort(0);
  /** The server's message limit: the model's bytes plus 1 MiB of envelope. */
  private static final long MAX = CONFIG.grpcMaxMessageBytes();
  /** Length-delimited field 1 claiming 127 bytes, followed by one: never a valid message. */
  private static final byte[] MALFORMED = {0x0A, 0x7F, 'x'};

  /** The good updates of the first round, and the model they must produce. */
  private static final float[][] ROUND1 = {gradient(0, 0), gradient(1, 0), gradient(2, 0)};
  private static final float[] EXPECTED = reference(MODEL.initialParameters(0), List.<float[][]>of(ROUND1))[0];

  /** Every trainer of the first round got version 1 of a round of 3, the model of the direct loop. */
  private static void assertFirstRoundUnharmed(CompositeFuture all) {
    for (int i = 0; i < 3; i++) {
      ModelReply r = all.resultAt(i);
      assertThat(r.getModelVersion()).isEqualTo(1);
      assertThat(r.getRoundSize()).isEqualTo(3);
      Fixtures.assertClose("trainer " + i, Tensors.toFloats(r.getParameters()), EXPECTED, 1e-7, 1e-6);
    }
  }

  private static Future<ParameterServerVerticle> deploy(Vertx vertx) {
    ProtobufCodec.register(vertx);
    ParameterServerVerticle v = new ParameterServerVerticle(CONFIG, null);
    return vertx.deployVerticle(v).map(id -> v);
  }

  private static Future<FailureCode> busRefusal(Vertx vertx, String address, Object body) {
    return refusal(vertx.eventBus().request(address, body, new DeliveryOptions().setSendTimeout(10_000)));
  }

  private static Future<GrpcStatus> grpcStatus(Future<?> f) {
    return f.transform(ar -> ar.succeeded()
        ? Future.failedFuture(new AssertionError("accepted but should have been refused"))
        : ar.cause() instanceof InvalidStatusException e ? Future.succeededFuture(e.actualStatus())
        : Future.failedFuture(new AssertionError("not a gRPC status", ar.cause())));
  }

  /**
   * Raw bytes as the body of a gRPC call (no protobuf encoding): "STATUS message | REASON {metadata}",
   * the reason and metadata read from the {@code ErrorInfo} in the status details.
   */
  static Future<String> rawGrpc(GrpcClient client, int port, String method, byte[] body) {
    return client.request(SocketAddress.inetSocketAddress(port, "127.0.0.1"))
        .compose(req -> req.fullMethodName(method).send(Buffer.buffer(body)))
        .compose(resp -> resp.end().transform(ar -> {
          MultiMap all = MultiMap.caseInsensitiveMultiMap().addAll(resp.headers()).addAll(resp.trailers());
          String info = GrpcFailures.errorInfo(all)
              .map(e -> e.getReason() + " " + new TreeMap<>(e.getMetadataMap())).orElse("no details");
          return Future.succeededFuture(resp.status().name() + " " + resp.statusMessage() + " | " + info);
        }));
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void everyGrpcRefusalNamesItsReasonForAProgram(Vertx vertx, VertxTestContext ctx) {
    GrpcClient raw = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(64L << 20));
    String method = "batchrpc.v1.ParameterServer/UpdateAndFetchModel";
    float[] nan = gradient(2, 0);
    nan[1] = Float.NaN;
    Map<String, String> answers = new TreeMap<>();
    deploy(vertx).compose(v -> {
      int port = v.grpcPort();
      java.util.function.BiFunction<String, byte[], Future<String>> call = (name, bytes) ->
          rawGrpc(raw, port, method, bytes).onSuccess(a -> answers.put(name, a));
      Future<ModelReply> a = send(vertx, update("a", 0, ROUND1[0]));
      return call.apply("future", update("b", 7, ROUND1[1]).toByteArray())
          .compose(x -> call.apply("unknown", update("zz", 0, ROUND1[1]).toByteArray()))
          .compose(x -> call.apply("shape", update("b", 0, new float[P + 1]).toByteArray()))
          .compose(x -> call.apply("non-finite", update("b", 0, nan).toByteArray()))
          .compose(x -> call.apply("oversized", update("b", 0, new float[(int) (MAX / 4) + 16]).toByteArray()))
          .compose(x -> call.apply("duplicate", update("a", 0, ROUND1[0]).toByteArray()))
          .compose(x -> Future.all(a, send(vertx, update("b", 0, ROUND1[1])), send(vertx, update("py", 0, ROUND1[2]))))
          .compose(all -> call.apply("stale", update("a", 0, ROUND1[0]).toByteArray()).map(all));
    }).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      assertThat(answers.get("future")).startsWith("FAILED_PRECONDITION participant 'b' sent gradients for future")
          .endsWith("| FUTURE_VERSION {failure_code=425, request_version=7, server_version=0}");
      assertThat(answers.get("stale")).startsWith("FAILED_PRECONDITION participant 'a' sent gradients for stale")
          .endsWith("| STALE_VERSION {failure_code=412, request_version=0, server_version=1}");
      assertThat(answers.get("unknown")).endsWith("| UNKNOWN_PARTICIPANT {failure_code=403}");
      assertThat(answers.get("duplicate")).endsWith("| DUPLICATE {failure_code=409}");
      assertThat(answers.get("shape")).startsWith("INVALID_ARGUMENT ").endsWith("| SHAPE_MISMATCH {failure_code=401}");
      assertThat(answers.get("non-finite")).startsWith("INVALID_ARGUMENT ").endsWith("| NON_FINITE {failure_code=402}");
      assertThat(answers.get("oversized")).startsWith("RESOURCE_EXHAUSTED ").contains("limit of " + MAX + " bytes")
          .contains("| TOO_LARGE {failure_code=413, limit_bytes=" + MAX + ", size_bytes=");
      assertFirstRoundUnharmed(all);
      ctx.completeNow();
    })));
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void eventBusGarbageIsRefusedAndTheRoundAndModelAreUnharmed(Vertx vertx, VertxTestContext ctx) {
    int tooLong = (int) (MAX / 4) + 16;
    Map<String, FailureCode> codes = new TreeMap<>();
    deploy(vertx)
        .compose(v -> Future.all(List.of(
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, update("b", 0, new float[P + 1]))
                .onSuccess(c -> codes.put("longer by one", c)),
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, update("b", 0, new float[2 * P]))
                .onSuccess(c -> codes.put("twice as long", c)),
            // shape [P] but two bytes short: the tensor's own invariant
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, update("b", 0, new float[P]).toBuilder()
                .setGradients(Tensor.newBuilder().addShape(P).setData(ByteString.copyFrom(new byte[4 * P - 2])))
                .build())
                .onSuccess(c -> codes.put("bytes not matching the shape", c)),
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, update("b", 0, new float[tooLong]))
                .onSuccess(c -> codes.put("over the size limit", c)),
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, Buffer.buffer(MALFORMED))
                .onSuccess(c -> codes.put("malformed bytes", c)),
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, new JsonObject().put("participant_id", "b"))
                .onSuccess(c -> codes.put("json body", c)),
            busRefusal(vertx, Addresses.PS_UPDATE_AND_FETCH, "b")
                .onSuccess(c -> codes.put("string body", c)),
            busRefusal(vertx, Addresses.PS_GET_MODEL, MALFORMED)
                .onSuccess(c -> codes.put("malformed get-model", c)))))
        // the round that follows: "b" sends its good update as protobuf bytes in a Buffer
        .compose(refused -> Future.all(send(vertx, update("a", 0, ROUND1[0])),
            vertx.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH,
                Buffer.buffer(update("b", 0, ROUND1[1]).toByteArray())).map(Message::body),
            send(vertx, update("py", 0, ROUND1[2]))))
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          assertThat(codes).containsEntry("longer by one", FailureCode.SHAPE_MISMATCH)
              .containsEntry("twice as long", FailureCode.SHAPE_MISMATCH)
              .containsEntry("bytes not matching the shape", FailureCode.SHAPE_MISMATCH)
              .containsEntry("over the size limit", FailureCode.TOO_LARGE)
              .containsEntry("malformed bytes", FailureCode.BAD_REQUEST)
              .containsEntry("json body", FailureCode.BAD_REQUEST)
              .containsEntry("string body", FailureCode.BAD_REQUEST)
              .containsEntry("malformed get-model", FailureCode.BAD_REQUEST)
              .hasSize(8);
          assertFirstRoundUnharmed(all);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void grpcOversizedAndMalformedMessagesGetAStatusAndTheServerKeepsServing(Vertx vertx, VertxTestContext ctx) {
    // a client that would send far more than the server accepts
    GrpcClient big = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(64L << 20));
    GrpcClient raw = GrpcClient.client(vertx);
    Map<String, Object> statuses = new TreeMap<>();
    String update = "batchrpc.v1.ParameterServer/UpdateAndFetchModel";
    deploy(vertx).compose(v -> {
      int port = v.grpcPort();
      ParameterServerGrpcClient bigPs = ParameterServerGrpcClient.create(big,
          SocketAddress.inetSocketAddress(port, "127.0.0.1"));
      return grpcStatus(bigPs.updateAndFetchModel(update("py", 0, new float[(int) (MAX / 4) + 16])))
          .onSuccess(s -> statuses.put("oversized", s))
          .compose(s -> rawGrpc(raw, port, update, MALFORMED)).onSuccess(s -> statuses.put("malformed update", s))
          .compose(s -> rawGrpc(raw, port, "batchrpc.v1.ParameterServer/GetModel", MALFORMED))
          .onSuccess(s -> statuses.put("malformed get-model", s))
          // over gRPC too, a gradient longer than the model is a shape error, not a size error
          .compose(s -> grpcStatus(bigPs.updateAndFetchModel(update("py", 0, new float[P + 1]))))
          .onSuccess(s -> statuses.put("longer by one", s))
          // the server still serves: a fresh connection joins the round with two event-bus trainers
          .compose(s -> {
            ParameterServerGrpcClient ps = ParameterServerGrpcClient.create(
                GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(MAX)),
                SocketAddress.inetSocketAddress(port, "127.0.0.1"));
            return ps.getModel(GetModelRequest.newBuilder().setParticipantId("py").build())
                .compose(m -> Future.all(send(vertx, update("a", 0, ROUND1[0])), send(vertx, update("b", 0, ROUND1[1])),
                    ps.updateAndFetchModel(update("py", m.getModelVersion(), ROUND1[2]))));
          });
    }).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      assertThat(statuses).containsEntry("oversized", GrpcStatus.RESOURCE_EXHAUSTED)
          .containsEntry("longer by one", GrpcStatus.INVALID_ARGUMENT);
      // not a reset stream (which a client reports as CANCELLED) but a status naming the method
      assertThat((String) statuses.get("malformed update"))
          .startsWith("INVALID_ARGUMENT malformed batchrpc.v1.ParameterServer/UpdateAndFetchModel request: ");
      assertThat((String) statuses.get("malformed get-model"))
          .startsWith("INVALID_ARGUMENT malformed batchrpc.v1.ParameterServer/GetModel request: ");
      assertFirstRoundUnharmed(all);
      ctx.completeNow();
    })));
  }
}
