package dev.batchrpc.trainer;

import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.ops.Readiness;
import io.vertx.core.Future;
import java.util.Objects;

/**
 * A client that keeps the trainer's readiness condition {@value #CONDITION} true while the
 * trainer is in the parameter server's rounds: up when a call was answered, down with the reason
 * when one failed (the server lost or restarted, this node cut off from it and rejoining), until
 * the next answer. So {@code /health/ready} says DOWN for a trainer that rides out an outage.
 *
 * <p>Thread-safety: as the wrapped client; {@link Readiness} is thread-safe.
 */
final class ReadinessPsClient implements PsClient {

  /** The readiness condition this client keeps. */
  static final String CONDITION = "rounds";

  private final PsClient client;
  private final Readiness readiness;

  ReadinessPsClient(PsClient client, Readiness readiness) {
    this.client = Objects.requireNonNull(client, "client");
    this.readiness = Objects.requireNonNull(readiness, "readiness");
  }

  @Override
  public Future<ModelReply> getModel(String participantId) {
    return track(client.getModel(participantId));
  }

  @Override
  public Future<ModelReply> updateAndFetch(UpdateRequest request) {
    return track(client.updateAndFetch(request));
  }

  @Override
  public void abandon() {
    client.abandon();
  }

  @Override
  public void release(ModelReply reply) {
    client.release(reply);
  }

  @Override
  public Future<Void> leave(String participantId) {
    return client.leave(participantId)
        .andThen(ar -> readiness.down(CONDITION, "left the rounds: the trainer has done its batches"));
  }

  private Future<ModelReply> track(Future<ModelReply> call) {
    return call.andThen(ar -> {
      if (ar.succeeded()) {
        readiness.set(CONDITION, true);
      } else {
        RpcException e = RpcException.of(ar.cause());
        readiness.down(CONDITION, "not in the parameter server's rounds: " + e.code() + ": " + e.getMessage()
            + " (retrying for up to --retry-timeout-s)");
      }
    });
  }
}
