package dev.batchrpc.runtime.grpc;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Timer;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.common.GrpcError;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.InvalidMessageException;
import io.vertx.grpc.common.MessageSizeOverflowException;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.common.WireFormat;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.net.Tls;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.Service;
import java.util.List;
import java.util.Objects;

/**
 * Binds generated gRPC services so that undecodable requests get a clear status.
 *
 * <p>Why: Vert.x gRPC 5.0.7 answers a request whose message bytes its protobuf decoder refuses by
 * resetting the HTTP/2 stream, which a client reports as {@code CANCELLED}, as if it had given up
 * itself. {@link #addService} binds every method of a service with Vert.x's identity decoder (so
 * gzip is still undone by Vert.x) and decodes each message with the method's own decoder here: a
 * message that does not decode is answered {@code INVALID_ARGUMENT "malformed <method> request:
 * ..."}, the same status as every other bad argument, and the service never sees it. Everything
 * else, the handler the generated code installs included, is Vert.x's. A call the service fails
 * is ended by {@link GrpcFailures#fail}: the failure code's status and text, and the code's name
 * and details in {@code grpc-status-details-bin}, so a program can act on a refusal.
 *
 * <p>A service method learns that its caller gave up (cancelled, deadline passed, stream broken)
 * from {@link CallCancellation#current()}; the reply to such a caller is dropped quietly (logged at
 * FINE), never as a SEVERE {@code The stream is failed} stack trace.
 *
 * <p>The server's {@link GrpcServer#services()} does not list a service bound this way (only gRPC
 * reflection reads it; we do not serve reflection).
 */
public final class GrpcServices {

  private GrpcServices() {
  }

  /**
   * Binds every method of {@code service} to {@code server}, decoding requests as described above.
   *
   * @param server the server
   * @param service a generated service (e.g. an {@code XGrpcService} subclass)
   * @return {@code server}
   */
  public static GrpcServer addService(GrpcServer server, Service service) {
    return addService(server, service, GrpcServerOptions.DEFAULT_MAX_MESSAGE_SIZE);
  }

  /**
   * As {@link #addService(GrpcServer, Service)}, for a server whose options allow messages up to
   * {@code maxMessageBytes}: a larger request is answered {@code RESOURCE_EXHAUSTED} with the
   * limit in the text and in the details ({@code TOO_LARGE}, {@code limit_bytes}).
   *
   * @param server the server
   * @param service a generated service
   * @param maxMessageBytes the server's {@code maxMessageSize}
   * @return {@code server}
   */
  public static GrpcServer addService(GrpcServer server, Service service, long maxMessageBytes) {
    Objects.requireNonNull(server, "server");
    Objects.requireNonNull(service, "service");
    service.bind(new Binder(server, maxMessageBytes));
    return server;
  }

  /**
   * Serves one service over gRPC the way every batch-rpc service does: messages up to
   * {@code maxMessageBytes} (Vert.x refuses more than 256 KB by default), clients' deadlines
   * ({@code grpc-timeout}) enforced by the server ({@code DEADLINE_EXCEEDED}), undecodable requests
   * answered {@code INVALID_ARGUMENT} ({@link #addService}), and TLS when the node has it
   * ({@code --tls-*}: the same certificate and CA as the event bus).
   *
   * @param vertx the node's Vert.x instance
   * @param service a generated service
   * @param maxMessageBytes the largest message accepted or sent
   * @param host the address to bind
   * @param port the port, 0 for any free one
   * @return the listening HTTP/2 server; a port in use fails it naming {@code --grpc-port}, the
   *     host and the port
   */
  public static Future<HttpServer> listen(Vertx vertx, Service service, long maxMessageBytes, String host,
      int port) {
    GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(maxMessageBytes)
        .setScheduleDeadlineAutomatically(true));
    addService(grpc, service, maxMessageBytes);
    dev.batchrpc.runtime.net.ConnectionLimits limits = dev.batchrpc.runtime.net.ConnectionLimits.of(vertx);
    dev.batchrpc.runtime.net.ConnectionLimits.Gate gate = limits.gate();
    // Connection hygiene (docs/bad-input.md): at most --max-connections at once, closed when
    // idle --idle-timeout-s (neither read nor written: longer than any round's wait).
    return vertx.createHttpServer(Tls.grpcServer(vertx, new HttpServerOptions()
            .setIdleTimeout(limits.idleTimeoutS()).setIdleTimeoutUnit(java.util.concurrent.TimeUnit.SECONDS)))
        .connectionHandler(conn -> {
          if (!gate.admit()) {
            conn.close();
            return;
          }
          conn.closeHandler(v -> gate.closed());
        })
        .requestHandler(grpc)
        .listen(port, host)
        .recover(e -> Future.failedFuture(dev.batchrpc.runtime.net.Ports.bindFailure(e, "gRPC port", "--grpc-port",
            host, port)));
  }

  /**
   * The message a request with undecodable bytes is answered with.
   *
   * @param fullMethodName the method, e.g. {@code batchrpc.v1.Agent/SelectAction}
   * @param failure the decoder's exception
   * @return the status message
   */
  static String malformed(String fullMethodName, Throwable failure) {
    Throwable cause = failure.getCause() != null ? failure.getCause() : failure;
    return "malformed " + fullMethodName + " request: " + cause.getMessage();
  }

  /** Passes everything to the real server, except that methods are bound through {@link Decoding}. */
  private static final class Binder implements GrpcServer {
    private final GrpcServer server;
    private final long maxMessageBytes;

    Binder(GrpcServer server, long maxMessageBytes) {
      this.server = server;
      this.maxMessageBytes = maxMessageBytes;
    }

    @Override
    public <Req, Resp> GrpcServer callHandler(ServiceMethod<Req, Resp> method,
        Handler<GrpcServerRequest<Req, Resp>> handler) {
      ServiceMethod<Buffer, Resp> raw = ServiceMethod.server(method.serviceName(), method.methodName(),
          method.encoder(), GrpcMessageDecoder.IDENTITY);
      server.callHandler(raw, request -> {
        // Vert.x answers an oversized message RESOURCE_EXHAUSTED with no text; say the limit.
        request.invalidMessageHandler(invalid -> {
          if (invalid instanceof MessageSizeOverflowException overflow) {
            GrpcFailures.fail(request.response(), new RpcException(FailureCode.TOO_LARGE,
                "a " + request.fullMethodName() + " message of " + overflow.messageSize()
                    + " bytes is over this server's limit of " + maxMessageBytes + " bytes")
                .withDetail("limit_bytes", maxMessageBytes).withDetail("size_bytes", overflow.messageSize()));
          } else {
            request.response().cancel();
          }
        });
        handler.handle(new Decoding<>(request, method.decoder()));
      });
      return this;
    }

    @Override
    public GrpcServer callHandler(Handler<GrpcServerRequest<Buffer, Buffer>> handler) {
      server.callHandler(handler);
      return this;
    }

    @Override
    public GrpcServer addService(Service service) {
      service.bind(this);
      return this;
    }

    @Override
    public List<Service> services() {
      return server.services();
    }

    @Override
    public void handle(HttpServerRequest request) {
      server.handle(request);
    }
  }

  /**
   * A request as the generated handler sees it: its messages decoded with the method's decoder,
   * or the call answered {@code INVALID_ARGUMENT}. Delegates everything else.
   */
  private static final class Decoding<Req, Resp> implements GrpcServerRequest<Req, Resp> {
    private final GrpcServerRequest<Buffer, Resp> raw;
    private final GrpcMessageDecoder<Req> decoder;
    private final GrpcServerResponse<Req, Resp> response;
    /** The call's {@link CallCancellation}, watched once a message came; its event loop only. */
    private io.vertx.core.Future<Void> cancellation;

    @SuppressWarnings("unchecked")
    Decoding(GrpcServerRequest<Buffer, Resp> raw, GrpcMessageDecoder<Req> decoder) {
      this.raw = raw;
      this.decoder = decoder;
      // The request type is not part of the response's behaviour (it only writes Resp).
      this.response = new FailureDetailingResponse<>(
          (GrpcServerResponse<Req, Resp>) (GrpcServerResponse<?, Resp>) raw.response());
    }

    private Req decode(Buffer payload) {
      return decoder.decode(GrpcMessage.message("identity", raw.format(), payload));
    }

    @Override
    public GrpcServerRequest<Req, Resp> handler(Handler<Req> handler) {
      if (handler == null) {
        raw.handler(null);
        return this;
      }
      raw.handler(payload -> {
        Req request;
        try {
          request = decode(payload);
        } catch (RuntimeException e) {
          GrpcFailures.fail(raw.response(), new RpcException(FailureCode.BAD_REQUEST, malformed(fullMethodName(), e)));
          return;
        }
        // Watched from the first message: a unary call's caller may give up while it waits.
        if (cancellation == null) {
          cancellation = CallCancellation.watch(raw);
        }
        CallCancellation.within(cancellation, () -> handler.handle(request));
      });
      return this;
    }

    @Override
    public Future<Req> last() {
      return raw.last().map(this::decode);
    }

    @Override
    public GrpcServerResponse<Req, Resp> response() {
      return response;
    }

    @Override
    public ServiceName serviceName() {
      return raw.serviceName();
    }

    @Override
    public String methodName() {
      return raw.methodName();
    }

    @Override
    public String fullMethodName() {
      return raw.fullMethodName();
    }

    @Override
    public MultiMap headers() {
      return raw.headers();
    }

    @Override
    public String encoding() {
      return raw.encoding();
    }

    @Override
    public WireFormat format() {
      return raw.format();
    }

    @Override
    public GrpcServerRequest<Req, Resp> messageHandler(Handler<GrpcMessage> handler) {
      raw.messageHandler(handler);
      return this;
    }

    @Override
    public GrpcServerRequest<Req, Resp> invalidMessageHandler(Handler<InvalidMessageException> handler) {
      raw.invalidMessageHandler(handler);
      return this;
    }

    // A handler set here replaces the one CallCancellation watches with (the generated code sets none).
    @Override
    public GrpcServerRequest<Req, Resp> errorHandler(Handler<GrpcError> handler) {
      raw.errorHandler(handler);
      return this;
    }

    @Override
    public GrpcServerRequest<Req, Resp> exceptionHandler(Handler<Throwable> handler) {
      raw.exceptionHandler(handler);
      return this;
    }

    @Override
    public GrpcServerRequest<Req, Resp> pause() {
      raw.pause();
      return this;
    }

    @Override
    public GrpcServerRequest<Req, Resp> resume() {
      raw.resume();
      return this;
    }

    @Override
    public GrpcServerRequest<Req, Resp> fetch(long amount) {
      raw.fetch(amount);
      return this;
    }

    @Override
    public GrpcServerRequest<Req, Resp> endHandler(Handler<Void> handler) {
      raw.endHandler(handler);
      return this;
    }

    @Override
    public Future<Void> end() {
      return raw.end();
    }

    @Override
    public HttpConnection connection() {
      return raw.connection();
    }

    @Override
    public long timeout() {
      return raw.timeout();
    }

    @Override
    public Timer deadline() {
      return raw.deadline();
    }
  }
}
