package dev.batchrpc.runtime.grpc;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.WireFormat;
import io.vertx.grpc.server.GrpcServerResponse;
import java.util.Set;

/**
 * A call's response whose {@link #fail} ends the call the {@link GrpcFailures} way (status, text and
 * {@code ErrorInfo}) instead of Vert.x's {@code UNKNOWN} for anything but a {@code StatusException}.
 * The generated service code ends a failed call with {@code fail}, so a service only fails its
 * future with an {@code RpcException}. Everything else is delegated.
 */
final class FailureDetailingResponse<Req, Resp> implements GrpcServerResponse<Req, Resp> {

  private final GrpcServerResponse<Req, Resp> raw;

  FailureDetailingResponse(GrpcServerResponse<Req, Resp> raw) {
    this.raw = raw;
  }

  private static final System.Logger LOG = System.getLogger(FailureDetailingResponse.class.getName());

  @Override
  public void fail(Throwable failure) {
    try {
      GrpcFailures.fail(raw, failure);
    } catch (IllegalStateException e) {
      gone(e);
    }
  }

  /**
   * The caller gave up (cancelled, deadline passed, connection lost) before its answer: Vert.x
   * refuses to write to the failed stream, which is expected, not an error of this server.
   */
  private static <T> Future<T> gone(IllegalStateException e) {
    LOG.log(System.Logger.Level.DEBUG, () -> "gRPC reply dropped, its caller is gone: " + e.getMessage());
    return Future.failedFuture(e);
  }

  @Override
  public GrpcServerResponse<Req, Resp> status(GrpcStatus status) {
    raw.status(status);
    return this;
  }

  @Override
  public GrpcServerResponse<Req, Resp> statusMessage(String msg) {
    raw.statusMessage(msg);
    return this;
  }

  @Override
  public GrpcServerResponse<Req, Resp> encoding(String encoding) {
    raw.encoding(encoding);
    return this;
  }

  @Override
  public GrpcServerResponse<Req, Resp> format(WireFormat format) {
    raw.format(format);
    return this;
  }

  @Override
  public Set<String> acceptedEncodings() {
    return raw.acceptedEncodings();
  }

  @Override
  public MultiMap headers() {
    return raw.headers();
  }

  @Override
  public MultiMap trailers() {
    return raw.trailers();
  }

  @Override
  public GrpcServerResponse<Req, Resp> exceptionHandler(Handler<Throwable> handler) {
    raw.exceptionHandler(handler);
    return this;
  }

  @Override
  public GrpcServerResponse<Req, Resp> setWriteQueueMaxSize(int maxSize) {
    raw.setWriteQueueMaxSize(maxSize);
    return this;
  }

  @Override
  public GrpcServerResponse<Req, Resp> drainHandler(Handler<Void> handler) {
    raw.drainHandler(handler);
    return this;
  }

  @Override
  public boolean writeQueueFull() {
    return raw.writeQueueFull();
  }

  @Override
  public Future<Void> writeHead() {
    return raw.writeHead();
  }

  @Override
  public Future<Void> write(Resp data) {
    return raw.write(data);
  }

  @Override
  public Future<Void> end() {
    try {
      return raw.end();
    } catch (IllegalStateException e) {
      return gone(e);
    }
  }

  @Override
  public Future<Void> end(Resp data) {
    try {
      return raw.end(data);
    } catch (IllegalStateException e) {
      return gone(e);
    }
  }

  @Override
  public Future<Void> writeMessage(GrpcMessage message) {
    return raw.writeMessage(message);
  }

  @Override
  public Future<Void> endMessage(GrpcMessage message) {
    return raw.endMessage(message);
  }

  @Override
  public void cancel() {
    raw.cancel();
  }
}
