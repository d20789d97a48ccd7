package dev.batchrpc.ps;

import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcService;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.grpc.server.StatusException;

/**
 * The gRPC face of a {@link ParameterServer}: the same rounds as the event bus, so a Python trainer
 * can join a round with JVM trainers. A refusal becomes the matching gRPC status
 * ({@code INVALID_ARGUMENT} for a bad gradient, {@code FAILED_PRECONDITION} for a stale version,
 * duplicate or unknown trainer) with the same text.
 */
final class ParameterServerGrpc extends ParameterServerGrpcService {

  private final ParameterServer server;

  ParameterServerGrpc(ParameterServer server) {
    this.server = server;
  }

  @Override
  public Future<ModelReply> getModel(GetModelRequest request) {
    return server.getModel(request).recover(ParameterServerGrpc::toStatus);
  }

  @Override
  public Future<ModelReply> updateAndFetchModel(UpdateRequest request) {
    return server.updateAndFetch(request).recover(ParameterServerGrpc::toStatus);
  }

  @Override
  public Future<LeaveReply> leave(LeaveRequest request) {
    return server.leave(request.getParticipantId())
        .map(n -> LeaveReply.newBuilder().setExpected(n).build())
        .recover(ParameterServerGrpc::toStatus);
  }

  private static <T> Future<T> toStatus(Throwable failure) {
    RpcException e = RpcException.of(failure);
    return Future.failedFuture(new StatusException(e.grpcStatus(), e.getMessage()));
  }
}
