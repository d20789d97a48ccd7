package dev.batchrpc.runtime.grpc;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import java.util.concurrent.TimeUnit;

/**
 * Unary calls to a batch-rpc service that fail the way the event bus does: with the server's
 * {@link RpcException} (its {@code FailureCode}, text and details, read from the status details by
 * {@link GrpcFailures#toRpcException}), and {@code UNAVAILABLE} when the server cannot be reached,
 * so a caller (a trainer over gRPC) handles both transports alike.
 */
public final class GrpcCalls {

  private GrpcCalls() {
  }

  /**
   * One unary call with a deadline.
   *
   * @param client the gRPC client
   * @param server the server's address
   * @param method the generated method (e.g. {@code ParameterServerGrpcClient.GetModel})
   * @param request the request
   * @param timeoutMs the deadline, sent to the server as {@code grpc-timeout}
   * @return the reply, or a failed future with an {@link RpcException}
   */
  public static <Req, Resp> Future<Resp> unary(GrpcClient client, SocketAddress server, ServiceMethod<Resp, Req> method,
      Req request, long timeoutMs) {
    return client.request(server, method)
        .recover(e -> Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE,
            "cannot reach " + server + ": " + e.getMessage(), e)))
        .compose(req -> {
          req.timeout(timeoutMs, TimeUnit.MILLISECONDS);
          return req.send(request)
              .recover(e -> Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE,
                  method.fullMethodName() + " to " + server + ": " + e.getMessage(), e)))
              .compose(resp -> resp.last().transform(ar -> {
                if (resp.status() == GrpcStatus.OK && ar.succeeded()) {
                  return Future.succeededFuture(ar.result());
                }
                if (resp.status() == null) {
                  return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE,
                      method.fullMethodName() + " to " + server + " ended without a status: "
                          + (ar.failed() ? ar.cause().getMessage() : "no message"), ar.cause()));
                }
                MultiMap all = MultiMap.caseInsensitiveMultiMap().addAll(resp.headers()).addAll(resp.trailers());
                return Future.failedFuture(GrpcFailures.toRpcException(resp.status(), resp.statusMessage(), all));
              }));
        });
  }
}
