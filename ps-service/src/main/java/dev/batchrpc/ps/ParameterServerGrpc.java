package dev.batchrpc.ps;

import dev.batchrpc.proto.v1.GetLayoutRequest;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ModelLayout;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcService;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.grpc.CallCancellation;
import io.vertx.core.Future;

/**
 * The gRPC face of a {@link ParameterServer}: the same rounds as the event bus, so a Python trainer
 * can join a round with JVM trainers. A refusal (an {@code RpcException}) becomes the matching gRPC
 * status ({@code INVALID_ARGUMENT} for a bad gradient, {@code FAILED_PRECONDITION} for a stale or
 * future version, duplicate or unknown trainer) with the same text and its reason in the status
 * details: {@link dev.batchrpc.runtime.grpc.GrpcFailures}, applied to every call by
 * {@link dev.batchrpc.runtime.grpc.GrpcServices}.
 */
final class ParameterServerGrpc extends ParameterServerGrpcService {

  private final ParameterServer server;

  ParameterServerGrpc(ParameterServer server) {
    this.server = server;
  }

  @Override
  public Future<ModelReply> getModel(GetModelRequest request) {
    return server.getModel(request);
  }

  @Override
  public Future<ModelReply> updateAndFetchModel(UpdateRequest request) {
    // A caller that cancels, or whose deadline passes, while its gradient waits in the open round
    // takes it back: not applied, and its resend is accepted.
    return server.updateAndFetch(request, CallCancellation.current(), "its gRPC call was cancelled or its deadline passed");
  }

  @Override
  public Future<ModelLayout> getLayout(GetLayoutRequest request) {
    return Future.succeededFuture(server.layout());
  }

  @Override
  public Future<LeaveReply> leave(LeaveRequest request) {
    return server.leave(request.getParticipantId())
        .map(n -> LeaveReply.newBuilder().setExpected(n).build());
  }
}
