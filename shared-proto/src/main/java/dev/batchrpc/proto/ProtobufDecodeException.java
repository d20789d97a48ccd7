package dev.batchrpc.proto;

/**
 * A protobuf event-bus payload that cannot be decoded: an unknown type name, a truncated frame or
 * malformed message bytes. Maps to {@link FailureCode#BAD_REQUEST}.
 */
public class ProtobufDecodeException extends IllegalArgumentException {

  private static final long serialVersionUID = 1L;

  /**
   * @param message what was wrong, naming the type and sizes involved
   * @param cause the parser's exception, or null
   */
  public ProtobufDecodeException(String message, Throwable cause) {
    super(message, cause);
  }
}
