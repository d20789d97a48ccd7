package dev.batchrpc.runtime.data;

import dev.batchrpc.proto.FailureCode;

/**
 * A frame the reader refuses. {@link #fatal()}: the stream cannot be trusted any more (a length
 * over the limit, an undecodable header), so the connection is closed after the refusal is sent;
 * otherwise the frame's payload is skipped unread and the connection goes on.
 */
public final class FrameException extends RuntimeException {

  private final FailureCode code;
  private final long callId;
  private final boolean fatal;

  FrameException(FailureCode code, String message, long callId, boolean fatal) {
    super(message);
    this.code = code;
    this.callId = callId;
    this.fatal = fatal;
  }

  /** Why. */
  public FailureCode code() {
    return code;
  }

  /** The refused call's id (0 when the header could not be read). */
  public long callId() {
    return callId;
  }

  /** Whether the connection must be closed. */
  public boolean fatal() {
    return fatal;
  }
}
