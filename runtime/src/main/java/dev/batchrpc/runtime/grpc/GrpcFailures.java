package dev.batchrpc.runtime.grpc;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import com.google.rpc.Status;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.MultiMap;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.StatusException;
import java.util.Base64;
import java.util.Optional;

/**
 * Refusals over gRPC that a program can act on: besides the status and its text, every refusal
 * carries the standard rich error model ({@code google.rpc.Status} in the {@code
 * grpc-status-details-bin} trailer, as gRPC's own libraries read it) with one
 * {@code google.rpc.ErrorInfo}: {@code reason} is the {@link dev.batchrpc.proto.FailureCode} name
 * ({@code DUPLICATE}, {@code STALE_VERSION}, {@code TOO_LARGE}, ...), {@code domain} is
 * {@value #DOMAIN}, and {@code metadata} holds {@code failure_code} (the event-bus code) and the
 * refusal's {@link RpcException#details()} (for {@code TOO_LARGE} the limit, for a version refusal
 * both versions).
 */
public final class GrpcFailures {

  /** The {@code ErrorInfo.domain} of every batch-rpc refusal. */
  public static final String DOMAIN = "batchrpc.v1";
  /** The trailer that holds the serialized {@code google.rpc.Status}. */
  public static final String DETAILS_TRAILER = "grpc-status-details-bin";

  private GrpcFailures() {
  }

  /**
   * The rich status of a refusal.
   *
   * @param e the refusal
   * @return its {@code google.rpc.Status}, with one {@code ErrorInfo}
   */
  public static Status status(RpcException e) {
    ErrorInfo info = ErrorInfo.newBuilder()
        .setReason(e.code().name())
        .setDomain(DOMAIN)
        .putMetadata("failure_code", Integer.toString(e.code().code()))
        .putAllMetadata(e.details())
        .build();
    return Status.newBuilder()
        .setCode(e.grpcStatus().code)
        .setMessage(message(e))
        .addDetails(Any.pack(info))
        .build();
  }

  /**
   * Ends a call with a refusal: the status of its failure code, its text, and the details above.
   * A {@link StatusException} (thrown by code that chose a status itself) is passed on as it is.
   *
   * @param response the call's response, not yet ended
   * @param failure any failure, mapped with {@link RpcException#of}
   */
  public static void fail(GrpcServerResponse<?, ?> response, Throwable failure) {
    if (failure instanceof StatusException) {
      response.fail(failure);
      return;
    }
    RpcException e = RpcException.of(failure);
    response.trailers().set(DETAILS_TRAILER,
        Base64.getEncoder().withoutPadding().encodeToString(status(e).toByteArray()));
    response.status(e.grpcStatus()).statusMessage(message(e)).end();
  }

  /**
   * Reads the {@code ErrorInfo} of a refusal back from a call's trailers (a Java client's side).
   *
   * @param trailers the response's trailers (or headers, for a trailers-only response)
   * @return the error info, or empty if the call carried none
   */
  public static Optional<ErrorInfo> errorInfo(MultiMap trailers) {
    String value = trailers.get(DETAILS_TRAILER);
    if (value == null) {
      return Optional.empty();
    }
    try {
      for (Any any : Status.parseFrom(Base64.getDecoder().decode(value)).getDetailsList()) {
        if (any.is(ErrorInfo.class)) {
          return Optional.of(any.unpack(ErrorInfo.class));
        }
      }
      return Optional.empty();
    } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  /**
   * The refusal a client received, as the server made it: the {@code FailureCode} named by the
   * {@code ErrorInfo} in the trailers, with its text and details. Without details (another server),
   * a transport status ({@code UNAVAILABLE}, {@code DEADLINE_EXCEEDED}, {@code CANCELLED}) is
   * {@code UNAVAILABLE}, {@code INVALID_ARGUMENT} is {@code BAD_REQUEST}, anything else
   * {@code BATCH_FAILED}.
   *
   * @param status the call's status
   * @param message its status message (may be null)
   * @param trailers the trailers and headers of the response
   * @return the exception
   */
  public static RpcException toRpcException(io.vertx.grpc.common.GrpcStatus status, String message,
      MultiMap trailers) {
    String text = message == null || message.isEmpty() ? "gRPC status " + status : message;
    Optional<ErrorInfo> info = errorInfo(trailers).filter(i -> i.getDomain().equals(DOMAIN));
    if (info.isPresent()) {
      try {
        RpcException e = new RpcException(dev.batchrpc.proto.FailureCode.valueOf(info.get().getReason()), text);
        for (var d : info.get().getMetadataMap().entrySet()) {
          if (!d.getKey().equals("failure_code")) {
            e = e.withDetail(d.getKey(), d.getValue());
          }
        }
        return e;
      } catch (IllegalArgumentException unknownReason) {
        // a newer server's reason: fall back on the status below
      }
    }
    dev.batchrpc.proto.FailureCode code = switch (status) {
      case UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED -> dev.batchrpc.proto.FailureCode.UNAVAILABLE;
      case INVALID_ARGUMENT -> dev.batchrpc.proto.FailureCode.BAD_REQUEST;
      case RESOURCE_EXHAUSTED -> dev.batchrpc.proto.FailureCode.TOO_LARGE;
      default -> dev.batchrpc.proto.FailureCode.BATCH_FAILED;
    };
    return new RpcException(code, text);
  }

  private static String message(RpcException e) {
    return e.getMessage() == null ? e.code().name() : e.getMessage();
  }
}
