package dev.batchrpc.runtime.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.ParameterServerGrpcService;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.InvalidStatusException;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** A generated service bound with {@link GrpcServices}: bad bytes get INVALID_ARGUMENT, the rest is Vert.x's. */
@ExtendWith(VertxExtension.class)
class GrpcServicesTest {

  private static final String GET_MODEL = "batchrpc.v1.ParameterServer/GetModel";

  /** Echoes the participant id as the model version's digits; refuses "nobody". */
  private static final class Echo extends ParameterServerGrpcService {
    final List<String> seen = new ArrayList<>();

    @Override
    public Future<ModelReply> getModel(GetModelRequest request) {
      seen.add(request.getParticipantId());
      if (request.getParticipantId().equals("nobody")) {
        return Future.failedFuture(new StatusException(GrpcStatus.FAILED_PRECONDITION, "who?"));
      }
      return Future.succeededFuture(ModelReply.newBuilder().setModelVersion(request.getParticipantId().length())
          .build());
    }

    @Override
    public Future<ModelReply> updateAndFetchModel(UpdateRequest request) {
      if (request.getParticipantId().equals("twice")) {
        return Future.failedFuture(new RpcException(FailureCode.DUPLICATE, "'twice' is already in this round")
            .withDetail("participant_id", "twice"));
      }
      if (request.getParticipantId().equals("crash")) {
        return Future.failedFuture(new IllegalStateException("boom"));
      }
      return Future.failedFuture(new StatusException(GrpcStatus.UNIMPLEMENTED, "not here"));
    }
  }

  /** "STATUS message | reason domain {metadata}" of a call, its ErrorInfo read from the trailers. */
  private static Future<String> refusal(GrpcClient client, int port, String method, byte[] body) {
    return client.request(SocketAddress.inetSocketAddress(port, "127.0.0.1"))
        .compose(req -> req.fullMethodName(method).send(Buffer.buffer(body)))
        .compose(resp -> resp.last().transform(ar -> {
          io.vertx.core.MultiMap all = io.vertx.core.MultiMap.caseInsensitiveMultiMap()
              .addAll(resp.headers()).addAll(resp.trailers());
          String info = GrpcFailures.errorInfo(all)
              .map(e -> e.getReason() + " " + e.getDomain() + " " + new java.util.TreeMap<>(e.getMetadataMap()))
              .orElse("no details");
          return Future.succeededFuture(resp.status().name() + " " + resp.statusMessage() + " | " + info);
        }));
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void refusalsCarryTheirReasonAndDetailsForAProgram(Vertx vertx, VertxTestContext ctx) {
    GrpcServer server = GrpcServices.addService(
        GrpcServer.server(vertx, new io.vertx.grpc.server.GrpcServerOptions().setMaxMessageSize(64)), new Echo(), 64);
    GrpcClient client = GrpcClient.client(vertx);
    String update = "batchrpc.v1.ParameterServer/UpdateAndFetchModel";
    byte[] twice = UpdateRequest.newBuilder().setParticipantId("twice").build().toByteArray();
    byte[] crash = UpdateRequest.newBuilder().setParticipantId("crash").build().toByteArray();
    byte[] big = GetModelRequest.newBuilder().setParticipantId("x".repeat(200)).build().toByteArray();
    List<String> outcomes = new ArrayList<>();
    vertx.createHttpServer().requestHandler(server).listen(0, "127.0.0.1").compose(http -> {
      int port = http.actualPort();
      return refusal(client, port, update, twice).onSuccess(outcomes::add)
          .compose(s -> refusal(client, port, GET_MODEL, new byte[] {0x0A, 0x7F, 'x'})).onSuccess(outcomes::add)
          .compose(s -> refusal(client, port, GET_MODEL, big)).onSuccess(outcomes::add)
          .compose(s -> refusal(client, port, update, crash)).onSuccess(outcomes::add)
          .compose(s -> refusal(client, port, GET_MODEL,
              GetModelRequest.newBuilder().setParticipantId("nobody").build().toByteArray()))
          .onSuccess(outcomes::add);
    }).onComplete(ctx.succeeding(v -> ctx.verify(() -> {
      assertThat(outcomes.get(0)).isEqualTo("FAILED_PRECONDITION 'twice' is already in this round | DUPLICATE "
          + "batchrpc.v1 {failure_code=409, participant_id=twice}");
      assertThat(outcomes.get(1)).startsWith("INVALID_ARGUMENT malformed " + GET_MODEL + " request: ")
          .endsWith("| BAD_REQUEST batchrpc.v1 {failure_code=400}");
      // Vert.x alone answers an oversized message RESOURCE_EXHAUSTED with no text
      assertThat(outcomes.get(2)).isEqualTo("RESOURCE_EXHAUSTED a " + GET_MODEL + " message of " + big.length
          + " bytes is over this server's limit of 64 bytes | TOO_LARGE batchrpc.v1 {failure_code=413, "
          + "limit_bytes=64, size_bytes=" + big.length + "}");
      // an unexpected failure is INTERNAL with its text, not Vert.x's bare UNKNOWN
      assertThat(outcomes.get(3)).isEqualTo("INTERNAL java.lang.IllegalStateException: boom | BATCH_FAILED "
          + "batchrpc.v1 {failure_code=500}");
      // a status the service chose itself passes through, without details
      assertThat(outcomes.get(4)).isEqualTo("FAILED_PRECONDITION who? | no details");
      ctx.completeNow();
    })));
  }

  private static Future<String> raw(GrpcClient client, int port, byte[] body, String encoding) {
    return client.request(SocketAddress.inetSocketAddress(port, "127.0.0.1"))
        .compose(req -> req.fullMethodName(GET_MODEL).encoding(encoding).send(Buffer.buffer(body)))
        .compose(resp -> resp.last().transform(ar -> Future.succeededFuture(resp.status().name() + " "
            + (ar.succeeded() ? "version " + decodeVersion(ar.result()) : resp.statusMessage()))));
  }

  private static long decodeVersion(Buffer b) {
    try {
      return ModelReply.parseFrom(b.getBytes()).getModelVersion();
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void malformedBytesAreInvalidArgumentAndEverythingElseWorksAsBefore(Vertx vertx, VertxTestContext ctx) {
    Echo echo = new Echo();
    GrpcServer server = GrpcServices.addService(GrpcServer.server(vertx), echo);
    GrpcClient client = GrpcClient.client(vertx);
    byte[] good = GetModelRequest.newBuilder().setParticipantId("trainer-7").build().toByteArray();
    List<String> outcomes = new ArrayList<>();
    vertx.createHttpServer().requestHandler(server).listen(0, "127.0.0.1").compose(http -> {
      int port = http.actualPort();
      ParameterServerGrpcClient typed = ParameterServerGrpcClient.create(client,
          SocketAddress.inetSocketAddress(port, "127.0.0.1"));
      return raw(client, port, new byte[] {0x0A, 0x7F, 'x'}, "identity").onSuccess(outcomes::add)
          .compose(s -> raw(client, port, new byte[] {0x0A, 0x7F, 'x'}, "gzip")).onSuccess(outcomes::add)
          .compose(s -> raw(client, port, good, "gzip")).onSuccess(outcomes::add)
          .compose(s -> raw(client, port, good, "identity")).onSuccess(outcomes::add)
          .compose(s -> typed.getModel(GetModelRequest.newBuilder().setParticipantId("nobody").build())
              .transform(ar -> Future.succeededFuture(((InvalidStatusException) ar.cause()).actualStatus())))
          .onSuccess(s -> outcomes.add(s.name()));
    }).onComplete(ctx.succeeding(v -> ctx.verify(() -> {
      assertThat(outcomes.get(0)).startsWith("INVALID_ARGUMENT malformed " + GET_MODEL + " request: ")
          .contains("input ended unexpectedly");
      // compressed bytes are inflated by Vert.x first, then found malformed all the same
      assertThat(outcomes.get(1)).startsWith("INVALID_ARGUMENT malformed " + GET_MODEL + " request: ");
      assertThat(outcomes.get(2)).isEqualTo("OK version 9");
      assertThat(outcomes.get(3)).isEqualTo("OK version 9");
      // a status the service chose passes through unchanged
      assertThat(outcomes.get(4)).isEqualTo("FAILED_PRECONDITION");
      // the malformed requests never reached the service
      assertThat(echo.seen).containsExactly("trainer-7", "trainer-7", "nobody");
      ctx.completeNow();
    })));
  }
}
