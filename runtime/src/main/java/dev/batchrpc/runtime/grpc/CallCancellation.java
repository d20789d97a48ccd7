package dev.batchrpc.runtime.grpc;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Timer;
import io.vertx.grpc.server.GrpcServerRequest;

/**
 * Tells a service that its gRPC caller gave up: the client cancelled the call, its deadline
 * ({@code grpc-timeout}) passed, or the stream or connection broke. The generated service methods
 * get only the request, so {@link GrpcServices} makes the call's cancellation visible, on the
 * thread that runs the service method and only while it runs, through {@link #current()}: a
 * service that parks the request (in an open round) takes it back when this completes.
 *
 * <p>Why: a request that waited in a round after its caller left was applied anyway (a gradient
 * nobody would see the model of) and its resend refused as a duplicate; its reply failed with
 * {@code IllegalStateException: The stream is failed: CANCELLED} logged as SEVERE.
 */
public final class CallCancellation {

  private static final ThreadLocal<Future<Void>> CURRENT = new ThreadLocal<>();

  private CallCancellation() {
  }

  /**
   * The cancellation of the gRPC call whose service method runs on this thread now: completes
   * (on the call's context) once the caller gave up; never when the call ends normally.
   *
   * @return the call's cancellation, or null outside a gRPC service method
   */
  public static Future<Void> current() {
    return CURRENT.get();
  }

  /** Completes once the call is cancelled, its deadline passes, or its stream fails. Call's context. */
  static Future<Void> watch(GrpcServerRequest<?, ?> raw) {
    Promise<Void> gone = Promise.promise();
    raw.exceptionHandler(e -> gone.tryComplete());
    raw.errorHandler(e -> gone.tryComplete());
    Timer deadline = raw.deadline();
    if (deadline != null) {
      // Cancelled (it does not fail then) when the call ends before its deadline.
      deadline.onSuccess(v -> gone.tryComplete());
    }
    return gone.future();
  }

  /** Runs a service method with {@code cancellation} as {@link #current()}. */
  static void within(Future<Void> cancellation, Runnable serviceCall) {
    Future<Void> outer = CURRENT.get();
    CURRENT.set(cancellation);
    try {
      serviceCall.run();
    } finally {
      if (outer == null) {
        CURRENT.remove();
      } else {
        CURRENT.set(outer);
      }
    }
  }
}
