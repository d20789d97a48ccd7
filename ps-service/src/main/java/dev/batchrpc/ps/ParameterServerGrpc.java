package dev.batchrpc.ps;

import dev.batchrpc.proto.v1.GetLayoutRequest;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.InitModelReply;
import dev.batchrpc.proto.v1.InitModelRequest;
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
 * {@link dev.batchrpc.runtime.grpc.GrpcServices}. Every call goes through the {@link ModelGate}:
 * {@code UNAVAILABLE} while a {@code --model init} server waits for its InitModel.
 */
final class ParameterServerGrpc extends ParameterServerGrpcService {

  private final ModelGate gate;

  ParameterServerGrpc(ModelGate gate) {
    this.gate = gate;
  }

  @Override
  public Future<ModelReply> getModel(GetModelRequest request) {
    return gate.server().compose(server -> server.getModel(request));
  }

  @Override
  public Future<ModelReply> updateAndFetchModel(UpdateRequest request) {
    // A caller that cancels, or whose deadline passes, while its gradient waits in the open round
    // takes it back: not applied, and its resend is accepted. (Read here, on the call's context.)
    Future<Void> gone = CallCancellation.current();
    return gate.server().compose(server -> server.updateAndFetch(request, gone,
        "its gRPC call was cancelled or its deadline passed"));
  }

  @Override
  public Future<ModelLayout> getLayout(GetLayoutRequest request) {
    return gate.server().map(ParameterServer::layout);
  }

  @Override
  public Future<InitModelReply> initModel(InitModelRequest request) {
    return gate.initModel(request);
  }

  @Override
  public Future<LeaveReply> leave(LeaveRequest request) {
    return gate.server().compose(server -> server.leave(request.getParticipantId()))
        .map(n -> LeaveReply.newBuilder().setExpected(n).build());
  }
}
