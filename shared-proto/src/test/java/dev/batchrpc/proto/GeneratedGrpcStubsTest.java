package dev.batchrpc.proto;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.ParameterServerGrpcService;
import dev.batchrpc.proto.v1.UpdateRequest;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.grpc.client.InvalidStatusException;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import io.vertx.grpc.server.StatusException;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The generated Vert.x gRPC stubs over HTTP/2 on 127.0.0.1: the server base class, the client
 * proxy, a model far above gRPC's default 256 KB message limit, and a refusal mapped through
 * {@link FailureCode#grpcStatus()}.
 */
@ExtendWith(VertxExtension.class)
class GeneratedGrpcStubsTest {

  /** Large enough for the 4 MB vectors below; Vert.x gRPC's default is 256 KB. */
  private static final long MAX_MESSAGE_BYTES = 64L << 20;

  /** Doubles the model version and negates the gradient; refuses an odd-length gradient. */
  private static final class NegatingServer extends ParameterServerGrpcService {
    @Override
    public Future<ModelReply> updateAndFetchModel(UpdateRequest request) {
      float[] g;
      try {
        g = Tensors.toFloats(request.getGradients());
      } catch (IllegalArgumentException e) {
        return Future.failedFuture(new StatusException(FailureCode.SHAPE_MISMATCH.grpcStatus(),
            e.getMessage()));
      }
      if (g.length % 2 != 0) {
        return Future.failedFuture(new StatusException(FailureCode.SHAPE_MISMATCH.grpcStatus(),
            "odd gradient length " + g.length));
      }
      float[] p = new float[g.length];
      for (int i = 0; i < g.length; i++) {
        p[i] = -g[i];
      }
      return Future.succeededFuture(ModelReply.newBuilder()
          .setModelVersion(2 * request.getModelVersion()).setParameters(Tensors.vector(p))
          .setRoundSize(1).build());
    }
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void largeUpdateAndRefusalOverGrpc(Vertx vertx, VertxTestContext ctx) {
    GrpcServer grpcServer = GrpcServer.server(vertx,
        new GrpcServerOptions().setMaxMessageSize(MAX_MESSAGE_BYTES));
    grpcServer.addService(new NegatingServer());
    float[] grads = new float[1 << 20];
    for (int i = 0; i < grads.length; i++) {
      grads[i] = i * 0.25f - 7f;
    }

    vertx.createHttpServer().requestHandler(grpcServer).listen(0, "127.0.0.1")
        .compose(http -> {
          GrpcClient client = GrpcClient.client(vertx,
              new GrpcClientOptions().setMaxMessageSize(MAX_MESSAGE_BYTES));
          ParameterServerGrpcClient ps = ParameterServerGrpcClient.create(client,
              SocketAddress.inetSocketAddress(http.actualPort(), "127.0.0.1"));
          return ps.updateAndFetchModel(UpdateRequest.newBuilder().setParticipantId("py-1")
                  .setModelVersion(21).setGradients(Tensors.vector(grads)).build())
              .compose(reply -> {
                assertThat(reply.getModelVersion()).isEqualTo(42);
                float[] p = Tensors.toFloats(reply.getParameters());
                float[] expected = new float[grads.length];
                for (int i = 0; i < grads.length; i++) {
                  expected[i] = -grads[i];
                }
                assertThat(Arrays.equals(p, expected)).as("parameters = -gradients").isTrue();
                return ps.updateAndFetchModel(UpdateRequest.newBuilder().setParticipantId("py-1")
                    .setGradients(Tensors.vector(new float[3])).build());
              });
        })
        .onComplete(ar -> {
          if (ar.succeeded()) {
            ctx.failNow("an odd-length gradient was accepted");
          } else if (!(ar.cause() instanceof InvalidStatusException)) {
            ctx.failNow(ar.cause());
          } else {
            ctx.verify(() -> {
              assertThat(((InvalidStatusException) ar.cause()).actualStatus())
                  .isEqualTo(GrpcStatus.INVALID_ARGUMENT);
              ctx.completeNow();
            });
          }
        });
  }
}
