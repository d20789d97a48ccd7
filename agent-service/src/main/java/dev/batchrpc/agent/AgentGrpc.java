package dev.batchrpc.agent;

import dev.batchrpc.proto.v1.AgentGrpcService;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import io.vertx.core.Future;

/**
 * The gRPC face of an {@link Agent}: the same rounds as the event bus, so a Python observer can
 * join a step round with JVM observers. A refusal becomes the matching gRPC status
 * ({@code INVALID_ARGUMENT} for a bad state or step, {@code FAILED_PRECONDITION} for an unknown or
 * duplicate observer, {@code UNAVAILABLE} with no episode running) with the same text and its
 * reason in the status details ({@link dev.batchrpc.runtime.grpc.GrpcFailures}, applied to every
 * call by {@link dev.batchrpc.runtime.grpc.GrpcServices}).
 */
final class AgentGrpc extends AgentGrpcService {

  private final Agent agent;

  AgentGrpc(Agent agent) {
    this.agent = agent;
  }

  @Override
  public Future<SelectActionReply> selectAction(SelectActionRequest request) {
    // A caller that cancels, or whose deadline passes, while its step waits in the open round
    // takes it back: no action is sampled or recorded for it, and its resend is accepted.
    return agent.selectAction(request, dev.batchrpc.runtime.grpc.CallCancellation.current(),
        "its gRPC call was cancelled or its deadline passed");
  }

  @Override
  public Future<RegisterObserverReply> registerObserver(RegisterObserverRequest request) {
    // No event-bus message to bind its node: a gRPC observer leaves by Leave or by not answering.
    return agent.register(request, null);
  }

  @Override
  public Future<LeaveReply> leave(LeaveRequest request) {
    return agent.leave(request);
  }
}
