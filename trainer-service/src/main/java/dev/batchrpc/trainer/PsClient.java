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
   * An attempt was given up without an answer ({@link Attempts}): forget the connection in use or
   * being set up, so that the next call starts afresh (a request lost while the cluster split and
   * merged must not hold every retry on the same dead set-up). Default: nothing to forget.
   */
  default void abandon() {
  }

  /**
   * Says the caller will not read {@code reply}'s parameters again (it loaded them), so a client
   * that received them into a pooled buffer may reuse it for the next reply. Optional: a reply
   * never released is left to the garbage collector. The reply's other fields stay readable.
   */
  default void release(ModelReply reply) {
  }

  /**
   * Leaves the server's rounds (a trainer that is done), so they stop waiting for it; fetching
   * the model again brings it back.
   */
  Future<Void> leave(String participantId);

  /**
   * A client over the (local or clustered) event bus with a per-request timeout. On a clustered
   * node it also learns the server's node from its replies and fails the calls in flight with
   * {@code UNAVAILABLE} as soon as that node leaves the cluster (the event bus itself would let
   * them wait for their timeout), so a trainer starts its retries at once.
   */
  static PsClient eventBus(Vertx vertx, long timeoutMs) {
    return new EventBusPsClient(vertx, timeoutMs);
  }

  /**
   * A client over gRPC ({@code trainer --ps-grpc HOST:PORT}), for a trainer outside the cluster:
   * refusals keep their code (read from the status details), an unreachable server is
   * {@code UNAVAILABLE}. TLS when the node has it.
   *
   * @param server the parameter server's gRPC address
   * @param maxMessageBytes the largest message sent or received (at least the model's bytes + 1 MiB)
   * @param timeoutMs each call's deadline
   */
  static PsClient grpc(Vertx vertx, io.vertx.core.net.SocketAddress server, long maxMessageBytes, long timeoutMs) {
    return new GrpcPsClient(vertx, server, maxMessageBytes, timeoutMs);
  }
}
