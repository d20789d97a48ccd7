package dev.batchrpc.trainer;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.Nodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;

/**
 * How a trainer reaches the parameter server. Failures are {@link RpcException}s: the server's
 * refusals keep their code; a transport failure (no handler for the address, no reply within the
 * timeout) is {@code UNAVAILABLE}, which {@link Trainer} treats as an outage to ride out.
 */
public interface PsClient {

  /** The current model (registers the trainer with a server in registration mode). */
  Future<ModelReply> getModel(String participantId);

  /** Joins the current round; completes with the model the round produced. */
  Future<ModelReply> updateAndFetch(UpdateRequest request);

  /**
   * Leaves the server's rounds (a trainer that is done), so they stop waiting for it; fetching
   * the model again brings it back.
   */
  Future<Void> leave(String participantId);

  /**
   * A client over the (local or clustered) event bus with a per-request timeout. The timeout is
   * also how long a request in flight to a server that died goes unanswered: the event bus does
   * not fail it when the peer goes away.
   */
  static PsClient eventBus(Vertx vertx, long timeoutMs) {
    ProtobufCodec.register(vertx);
    return new PsClient() {
      @Override
      public Future<ModelReply> getModel(String participantId) {
        return vertx.eventBus().<ModelReply>request(Addresses.PS_GET_MODEL,
                GetModelRequest.newBuilder().setParticipantId(participantId).build(),
                // The node header lets the server drop this trainer when its node leaves.
                ProtobufCodec.options(timeoutMs).addHeader(Addresses.NODE_HEADER, Nodes.nodeIdOf(vertx)))
            .map(Message::body).recover(e -> Future.failedFuture(RpcException.of(e)));
      }

      @Override
      public Future<ModelReply> updateAndFetch(UpdateRequest request) {
        return vertx.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH, request,
                ProtobufCodec.options(timeoutMs))
            .map(Message::body).recover(e -> Future.failedFuture(RpcException.of(e)));
      }

      @Override
      public Future<Void> leave(String participantId) {
        return vertx.eventBus().<LeaveReply>request(Addresses.PS_LEAVE,
                LeaveRequest.newBuilder().setParticipantId(participantId).build(),
                // Leaving is a courtesy on the way out: never hold a finished trainer long.
                ProtobufCodec.options(Math.min(timeoutMs, 5_000)))
            .<Void>mapEmpty().recover(e -> Future.failedFuture(RpcException.of(e)));
      }
    };
  }
}
