package dev.batchrpc.proto;

import io.vertx.grpc.common.GrpcStatus;

/**
 * Every way a request can be refused, in one place. On the event bus a refusal is
 * {@code message.fail(code.code(), text)}; over gRPC it is {@link #grpcStatus()} with the same text.
 */
public enum FailureCode {
  /** Malformed payload: undecodable bytes, missing fields, a value out of range. */
  BAD_REQUEST(400, GrpcStatus.INVALID_ARGUMENT),
  /** A tensor of the wrong length or shape. */
  SHAPE_MISMATCH(401, GrpcStatus.INVALID_ARGUMENT),
  /** NaN or infinity where finite numbers are required. */
  NON_FINITE(402, GrpcStatus.INVALID_ARGUMENT),
  /** A participant that is not part of this round's group. */
  UNKNOWN_PARTICIPANT(403, GrpcStatus.FAILED_PRECONDITION),
  /** A second request from the same participant in one round. */
  DUPLICATE(409, GrpcStatus.FAILED_PRECONDITION),
  /** A model version older than the server's: the caller missed a round (fetch and recompute). */
  STALE_VERSION(412, GrpcStatus.FAILED_PRECONDITION),
  /**
   * A model version newer than the server's: the server restarted from an older checkpoint (fetch
   * and recompute), or the caller made its version up.
   */
  FUTURE_VERSION(425, GrpcStatus.FAILED_PRECONDITION),
  /**
   * A model layout other than the server's: an {@code InitModel} on a server that already holds a
   * model of another layout (the first writer won).
   */
  LAYOUT_MISMATCH(422, GrpcStatus.FAILED_PRECONDITION),
  /**
   * An {@code InitModel} on a server that already holds a model of the same layout (the first
   * writer won, or the server started with it): fetch the model instead.
   */
  ALREADY_INITIALIZED(423, GrpcStatus.ALREADY_EXISTS),
  /** A message over the configured size limit. */
  TOO_LARGE(413, GrpcStatus.RESOURCE_EXHAUSTED),
  /** The round closed on its maximum wait and the policy fails partial rounds. */
  ROUND_TIMEOUT(504, GrpcStatus.DEADLINE_EXCEEDED),
  /** The batch computation of the round failed; the next round is unaffected. */
  BATCH_FAILED(500, GrpcStatus.INTERNAL),
  /** The service is starting, stopping or not ready. */
  UNAVAILABLE(503, GrpcStatus.UNAVAILABLE);

  private final int code;
  private final GrpcStatus grpcStatus;

  FailureCode(int code, GrpcStatus grpcStatus) {
    this.code = code;
    this.grpcStatus = grpcStatus;
  }

  /** The event-bus failure code. */
  public int code() {
    return code;
  }

  /** The matching gRPC status. */
  public GrpcStatus grpcStatus() {
    return grpcStatus;
  }

  /** The enum constant for an event-bus failure code, or {@code null} if none matches. */
  public static FailureCode of(int code) {
    for (FailureCode c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return null;
  }
}
