package dev.batchrpc.runtime.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.ParameterServerGrpcService;
import dev.batchrpc.proto.v1.UpdateRequest;
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
      return Future.failedFuture(new StatusException(GrpcStatus.UNIMPLEMENTED, "not here"));
    }
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
