package dev.batchrpc.ps;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.grpc.GrpcServices;
import dev.batchrpc.runtime.ops.ServiceMeters;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;

/**
 * Serves one {@link ParameterServer} on the event bus ({@link Addresses#PS_UPDATE_AND_FETCH},
 * {@link Addresses#PS_GET_MODEL}) and, unless {@code --grpc-port -1}, over gRPC; both feed the
 * same round. Thin: the logic is in {@link ParameterServer}.
 */
public final class ParameterServerVerticle extends VerticleBase {

  private final PsConfig config;
  private final MeterRegistry registry;
  private final Promise<ParameterServer> ready = Promise.promise();
  private ParameterServer server;
  private HttpServer http;

  /**
   * @param config the settings
   * @param registry where the round's metrics go (the node's registry), or null for nowhere
   */
  public ParameterServerVerticle(PsConfig config, MeterRegistry registry) {
    this.config = config;
    this.registry = registry == null ? new CompositeMeterRegistry() : registry;
  }

  /** Completes once deployed, with the server (for its version, parameters, round listener). */
  public Future<ParameterServer> server() {
    return ready.future();
  }

  /** The bound gRPC port, or -1 without gRPC. Valid after deployment. */
  public int grpcPort() {
    return http == null ? -1 : http.actualPort();
  }

  @Override
  public Future<?> start() {
    return ParameterServer.create(context, config, registry).compose(ps -> {
      server = ps;
      registerMeters(ps);
      // The same size limit as gRPC: a model-sized gradient plus the envelope.
      Future<Void> update = Consumers.serve(vertx.eventBus(), Addresses.PS_UPDATE_AND_FETCH,
          UpdateRequest.getDefaultInstance(), config.grpcMaxMessageBytes(), ps::updateAndFetch).completion();
      Future<Void> get = Consumers.serve(vertx.eventBus(), Addresses.PS_GET_MODEL,
          GetModelRequest.getDefaultInstance(), ps::getModel).completion();
      return Future.all(update, get, startGrpc(ps));
    }).onSuccess(v -> ready.complete(server)).onFailure(ready::tryFail);
  }

  /** The server's own meters (the round's are registered by the round). */
  private void registerMeters(ParameterServer ps) {
    Gauge.builder("ps.model.version", ps, ParameterServer::version)
        .description("The model version the server holds (SGD steps taken)")
        .register(registry);
    FunctionCounter.builder("ps.updates.applied", ps, ParameterServer::version)
        .description("Batched SGD updates applied to the model (one per round)")
        .register(registry);
    ServiceMeters.backend(registry, "ps", ps.backendName().startsWith("cuda"));
  }

  private Future<Void> startGrpc(ParameterServer ps) {
    if (config.grpcPort() < 0) {
      return Future.succeededFuture();
    }
    // Vert.x gRPC refuses messages over 256 KB by default: a model or gradient is 4 bytes per
    // parameter (94 MB for ResNet-50), so the limit follows the model size.
    long max = config.grpcMaxMessageBytes();
    GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(max));
    GrpcServices.addService(grpc, new ParameterServerGrpc(ps));
    return vertx.createHttpServer(new HttpServerOptions())
        .requestHandler(grpc)
        .listen(config.grpcPort(), config.grpcHost())
        .onSuccess(h -> http = h)
        .mapEmpty();
  }

  @Override
  public Future<?> stop() {
    Future<Void> closeHttp = http == null ? Future.succeededFuture() : http.close();
    return closeHttp.compose(v -> server == null ? Future.succeededFuture() : server.close());
  }
}
