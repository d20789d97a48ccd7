package dev.batchrpc.runtime;

import dev.batchrpc.proto.FailureCode;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.grpc.common.GrpcStatus;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * A refused or failed request, carrying the {@link FailureCode} every transport maps from: on the
 * event bus it becomes {@code message.fail(code.code(), message)} ({@link #replyFailure}), over gRPC
 * the code's {@link FailureCode#grpcStatus()} with the same text. Services turn any {@link Throwable}
 * into one with {@link #of(Throwable)}, so there is one path from an error to a reply.
 *
 * <p>A refusal may carry details a program can act on without parsing the text (a limit, the
 * server's version): {@link #withDetail}. Over gRPC they travel with the code's name in the
 * status details ({@code google.rpc.ErrorInfo}, see {@code runtime.grpc.GrpcFailures}); on the event
 * bus the numeric failure code is the machine-readable part.
 *
 * <p>Refusals are frequent and expected (a duplicate, a wrong shape), so the exception does not fill
 * in its own stack trace; a wrapped cause keeps its own.
 */
public final class RpcException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final FailureCode code;
  private final Map<String, String> details;

  /**
   * A failure with a code and a message meant for the caller.
   *
   * @param code the failure code, never {@code null}
   * @param message what went wrong, in words the caller can act on
   */
  public RpcException(FailureCode code, String message) {
    this(code, message, null);
  }

  /**
   * A failure with a code, a message and the cause it wraps.
   *
   * @param code the failure code, never {@code null}
   * @param message what went wrong, in words the caller can act on
   * @param cause the underlying error, or {@code null}
   */
  public RpcException(FailureCode code, String message, Throwable cause) {
    this(code, message, cause, Map.of());
  }

  private RpcException(FailureCode code, String message, Throwable cause, Map<String, String> details) {
    super(message, cause, false, false);
    this.code = Objects.requireNonNull(code, "code");
    this.details = details;
  }

  /**
   * The same failure with one more machine-readable detail, e.g. {@code ("limit_bytes", 1048576)}.
   *
   * @param key a lower_snake_case name
   * @param value the value, written with {@link String#valueOf(Object)}
   * @return a new exception; this one is unchanged
   */
  public RpcException withDetail(String key, Object value) {
    Map<String, String> more = new LinkedHashMap<>(details);
    more.put(Objects.requireNonNull(key, "key"), String.valueOf(value));
    return new RpcException(code, getMessage(), getCause(), Collections.unmodifiableMap(more));
  }

  /** The machine-readable details, in the order they were added (empty if none). */
  public Map<String, String> details() {
    return details;
  }

  /** The failure code. */
  public FailureCode code() {
    return code;
  }

  /** The gRPC status matching {@link #code()}. */
  public GrpcStatus grpcStatus() {
    return code.grpcStatus();
  }

  /**
   * Maps any failure to an {@code RpcException}:
   * <ul>
   *   <li>an {@code RpcException} is returned as is;</li>
   *   <li>an event-bus {@link ReplyException} whose failure code is a {@link FailureCode} keeps that
   *       code and message (the far side replied with {@link #replyFailure}); a reply timeout or a
   *       missing handler becomes {@link FailureCode#UNAVAILABLE};</li>
   *   <li>{@link CompletionException} and {@link ExecutionException} are unwrapped;</li>
   *   <li>an {@link IllegalArgumentException} becomes {@link FailureCode#BAD_REQUEST};</li>
   *   <li>anything else is an internal failure: {@link FailureCode#BATCH_FAILED} (gRPC
   *       {@code INTERNAL}) with the cause's class and message.</li>
   * </ul>
   *
   * @param failure any throwable, never {@code null}
   * @return the matching exception
   */
  public static RpcException of(Throwable failure) {
    Objects.requireNonNull(failure, "failure");
    Throwable t = failure;
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    if (t instanceof RpcException) {
      return (RpcException) t;
    }
    if (t instanceof ReplyException) {
      ReplyException reply = (ReplyException) t;
      if (reply.failureType() == ReplyFailure.RECIPIENT_FAILURE) {
        FailureCode code = FailureCode.of(reply.failureCode());
        if (code != null) {
          return new RpcException(code, reply.getMessage(), reply);
        }
      } else {
        return new RpcException(FailureCode.UNAVAILABLE,
            "event bus " + reply.failureType().name().toLowerCase() + ": " + reply.getMessage(), reply);
      }
    }
    if (t instanceof IllegalArgumentException) {
      return new RpcException(FailureCode.BAD_REQUEST, t.getMessage(), t);
    }
    return new RpcException(FailureCode.BATCH_FAILED, describe(t), t);
  }

  /**
   * Replies to an event-bus request with the failure's code and message:
   * {@code message.fail(code.code(), text)}. The sender sees a {@link ReplyException} that
   * {@link #of(Throwable)} maps back to the same code.
   *
   * @param message the request to answer
   * @param failure any throwable; mapped with {@link #of(Throwable)}
   */
  public static void replyFailure(Message<?> message, Throwable failure) {
    RpcException e = of(failure);
    message.fail(e.code().code(), e.getMessage() == null ? e.code().name() : e.getMessage());
  }

  /** {@code "ClassName: message"}, or the class name alone when there is no message. */
  static String describe(Throwable t) {
    String m = t.getMessage();
    return m == null ? t.getClass().getName() : t.getClass().getName() + ": " + m;
  }

  @Override
  public String toString() {
    return "RpcException[" + code + "]: " + getMessage();
  }
}
