package dev.batchrpc.ps;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.v1.DataEndpoint;
import dev.batchrpc.proto.v1.DataEndpointRequest;
import dev.batchrpc.proto.v1.GetLayoutRequest;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.InitModelRequest;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.node.ParticipantNodes;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.data.DataChannelConfig;
import dev.batchrpc.runtime.data.DataServer;
import dev.batchrpc.runtime.net.Tls;
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
import java.util.List;

/**
 * Serves one {@link ParameterServer} on the event bus ({@link Addresses#PS_UPDATE_AND_FETCH},
 * {@link Addresses#PS_GET_MODEL}, {@link Addresses#PS_GET_LAYOUT}, {@link Addresses#PS_INIT_MODEL},
 * {@link Addresses#PS_LEAVE}), on a clustered node also on the data channel (tensor bytes off
 * the event bus: {@link Addresses#PS_DATA_ENDPOINT} tells trainers where), and, unless
 * {@code --grpc-port -1}, over gRPC; all feed the same round. Thin: the logic is in
 * {@link ParameterServer}, reached through its {@link ModelGate} (a server started with
 * {@code --model init} has no model until a client's InitModel; its data channel starts then).
 */
public final class ParameterServerVerticle extends VerticleBase {

  private final PsConfig config;
  private final MeterRegistry registry;
  private final DataChannelConfig dataChannel;
  private final Promise<ModelGate> ready = Promise.promise();
  private ModelGate gate;
  private HttpServer http;
  private ParticipantNodes trainerNodes;
  private DataServer dataServer;

  /**
   * A server with a data channel on loopback (any free port) when its node is clustered.
   *
   * @param config the settings
   * @param registry where the round's metrics go (the node's registry), or null for nowhere
   */
  public ParameterServerVerticle(PsConfig config, MeterRegistry registry) {
    this(config, registry, DataChannelConfig.loopback());
  }

  /**
   * @param config the settings
   * @param registry where the round's metrics go (the node's registry), or null for nowhere
   * @param dataChannel where the data channel listens on a clustered node (a local node has none:
   *     its event bus passes messages by reference)
   */
  public ParameterServerVerticle(PsConfig config, MeterRegistry registry, DataChannelConfig dataChannel) {
    this.config = config;
    this.registry = registry == null ? new CompositeMeterRegistry() : registry;
    this.dataChannel = dataChannel == null ? DataChannelConfig.off() : dataChannel;
  }

  /** The data channel, or null without one. Valid after deployment. */
  DataServer dataServer() {
    return dataServer;
  }

  /** The data channel's port, or -1 without one. Valid after deployment. */
  public int dataPort() {
    return dataServer == null ? -1 : dataServer.port();
  }

  /**
   * Completes once deployed and holding a model, with the server (for its version, parameters,
   * round listener): with {@code --model init}, once a client's InitModel gave it one.
   */
  public Future<ParameterServer> server() {
    return ready.future().compose(ModelGate::whenReady);
  }

  /** Whether the server holds a model (false while a {@code --model init} server waits for InitModel). */
  public boolean hasModel() {
    return gate != null && gate.current() != null;
  }

  /** The bound gRPC port, or -1 without gRPC. Valid after deployment. */
  public int grpcPort() {
    return http == null ? -1 : http.actualPort();
  }

  @Override
  public Future<?> start() {
    return ModelGate.open(context, config, registry).compose(g -> {
      gate = g;
      // The same size limit as gRPC: a model-sized gradient plus the envelope.
      // A gradient still in the open round when its requester's timeout passes leaves the round.
      Future<Void> update = Consumers.serveMessages(vertx.eventBus(), Addresses.PS_UPDATE_AND_FETCH,
          UpdateRequest.getDefaultInstance(), config.grpcMaxMessageBytes(),
          (q, msg) -> Consumers.untilCallerGivesUp(vertx, msg, gone -> g.server().compose(ps -> ps.updateAndFetch(q,
              gone, "its event-bus requester's timeout passed")))).completion();
      // A trainer that fetches the model with its id and names its node is tracked: when that
      // node leaves the cluster, the trainer leaves the rounds.
      trainerNodes = ParticipantNodes.watch(vertx, id -> g.server().compose(ps -> ps.leave(id)));
      Future<Void> get = Consumers.serveMessages(vertx.eventBus(), Addresses.PS_GET_MODEL,
          GetModelRequest.getDefaultInstance(), Consumers.DEFAULT_MAX_BYTES,
          (q, msg) -> refuseLiveElsewhere(q.getParticipantId(), msg).compose(v -> g.server())
              .compose(ps -> ps.getModel(q)).onSuccess(reply -> {
            if (!q.getParticipantId().isEmpty()) {
              trainerNodes.bind(q.getParticipantId(), msg);
            }
          })).completion();
      Future<Void> layout = Consumers.serve(vertx.eventBus(), Addresses.PS_GET_LAYOUT,
          GetLayoutRequest.getDefaultInstance(), q -> g.server().map(ParameterServer::layout)).completion();
      Future<Void> init = Consumers.serve(vertx.eventBus(), Addresses.PS_INIT_MODEL,
          InitModelRequest.getDefaultInstance(), config.grpcMaxMessageBytes(), g::initModel).completion();
      Future<Void> leave = Consumers.serve(vertx.eventBus(), Addresses.PS_LEAVE,
          LeaveRequest.getDefaultInstance(), q -> g.server().compose(ps -> ps.leave(q.getParticipantId())).map(n -> {
            trainerNodes.unbind(q.getParticipantId());
            return LeaveReply.newBuilder().setExpected(n).build();
          })).completion();
      // With a model from the start, the data channel starts with the deployment, before trainers
      // are told where it is; a --model init server starts it once InitModel gave it a model (its
      // size sets the channel's buffers): until then the endpoint names none.
      Future<Void> data = g.current() == null ? Future.succeededFuture() : startData(g.current());
      Future<Void> endpoint = data.compose(v -> Consumers.serveMessages(vertx.eventBus(),
          Addresses.PS_DATA_ENDPOINT, DataEndpointRequest.getDefaultInstance(), Consumers.DEFAULT_MAX_BYTES,
          (q, msg) -> {
            // The data channel carries no node header: the node is bound here, where a trainer
            // asks for the endpoint before its first fetch (and again after every reconnect).
            if (Addresses.isValidId(q.getParticipantId())) {
              Future<Void> refused = refuseLiveElsewhere(q.getParticipantId(), msg);
              if (refused.failed()) {
                return refused;
              }
              trainerNodes.bind(q.getParticipantId(), msg);
            }
            return Future.succeededFuture(endpoint());
          }).completion());
      g.whenReady().onSuccess(this::registerMeters);
      if (g.current() == null) {
        g.whenReady().onSuccess(ps -> startData(ps).onFailure(e -> System.getLogger(getClass().getName()).log(
            System.Logger.Level.WARNING, "ps: the data channel did not start (" + e.getMessage() + "); trainers "
            + "send their tensors over the event bus")));
      }
      return Future.all(List.of(update, get, layout, init, leave, endpoint, startGrpc(g)));
    }).onSuccess(v -> ready.complete(gate)).onFailure(ready::tryFail);
  }

  /**
   * Refuses ({@code DUPLICATE}) a registration under the id of a trainer that is live on another
   * cluster node: a second trainer started with a running one's {@code --id} would otherwise send
   * in its name (and one of the two be refused mid-run). A trainer whose node left the cluster
   * (crashed, killed) is unbound, so its restart is taken once the cluster has dropped the old node.
   */
  private Future<Void> refuseLiveElsewhere(String id, io.vertx.core.eventbus.Message<?> registration) {
    String other = id.isEmpty() ? null : trainerNodes.boundElsewhere(id, registration);
    if (other == null) {
      return Future.succeededFuture();
    }
    return Future.failedFuture(new dev.batchrpc.runtime.RpcException(dev.batchrpc.proto.FailureCode.DUPLICATE,
        "trainer id '" + id + "' is live on another cluster node (" + other + "): ids must be unique; "
            + "start this trainer with another --id (a restarted trainer is taken once its old node has "
            + "left the cluster, within --member-timeout-s)"));
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

  private Future<Void> startData(ParameterServer ps) {
    if (!vertx.isClustered() || !dataChannel.enabled()) {
      return Future.succeededFuture();
    }
    PsConfig config = ps.config();
    long gradientBytes = 4L * config.model().parameterCount();
    // Payloads in flight: a gradient per trainer of this round and the next, and a few spare.
    long budget = gradientBytes * (2L * config.trainers() + 2);
    // Free buffers kept for reuse: a round's worth and one; more would only hold direct memory.
    long retained = gradientBytes * (config.trainers() + 1L);
    // A large model's gradients are received in parallel on several event loops; a small model's
    // on this verticle's own loop, where a request reaches the round, and the round's replies
    // their sockets, without a thread hand-off (which costs more than receiving 1 MB).
    int loops = config.model().parameterCount() >= ParameterServer.ACCUMULATE_FROM_PARAMETERS
        ? Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())) : 1;
    return DataServer.listen(vertx, dataChannel.bindHost(), dataChannel.port(),
            new ParameterServerData(ps, config.model().parameterCount()).methods(), gradientBytes, budget,
            retained, loops, context)
        .onSuccess(d -> {
          dataServer = d;
          ps.useOffHeapReplies();
        })
        .mapEmpty();
  }

  private DataEndpoint endpoint() {
    if (dataServer == null || gate.current() == null) {
      return DataEndpoint.getDefaultInstance();
    }
    PsConfig config = gate.current().config();
    return DataEndpoint.newBuilder().setHost(dataChannel.advertisedHost()).setPort(dataServer.port())
        .setTls(Tls.of(vertx) != null).setMaxPayloadBytes(4L * config.model().parameterCount())
        .setLocalPath(dataServer.localPath() == null ? "" : dataServer.localPath().toString()).build();
  }

  private Future<Void> startGrpc(ModelGate g) {
    if (config.grpcPort() < 0) {
      return Future.succeededFuture();
    }
    // Vert.x gRPC refuses messages over 256 KB by default: a model or gradient is 4 bytes per
    // parameter (94 MB for ResNet-50), so the limit follows the model size.
    return GrpcServices.listen(vertx, new ParameterServerGrpc(g), config.grpcMaxMessageBytes(),
            config.grpcHost(), config.grpcPort())
        .onSuccess(h -> http = h)
        .mapEmpty();
  }

  @Override
  public Future<?> stop() {
    if (trainerNodes != null) {
      trainerNodes.close();
    }
    Future<Void> closeHttp = http == null ? Future.succeededFuture() : http.close();
    Future<Void> closeData = dataServer == null ? Future.succeededFuture() : dataServer.close();
    return Future.join(closeHttp, closeData).<Void>mapEmpty()
        .compose(v -> gate == null ? Future.succeededFuture() : gate.close());
  }
}
