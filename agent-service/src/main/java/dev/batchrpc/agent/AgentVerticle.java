package dev.batchrpc.agent;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.DataEndpoint;
import dev.batchrpc.proto.v1.DataEndpointRequest;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.bus.LocalCalls;
import dev.batchrpc.runtime.data.DataChannelConfig;
import dev.batchrpc.runtime.data.DataServer;
import dev.batchrpc.runtime.grpc.GrpcServices;
import dev.batchrpc.runtime.net.Tls;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import java.util.ArrayList;
import java.util.List;

/**
 * Serves one {@link Agent} on the event bus ({@link Addresses#AGENT_SELECT_ACTION},
 * {@link Addresses#AGENT_REGISTER}, {@link Addresses#AGENT_LEAVE}) and, unless
 * {@code --grpc-port -1}, over gRPC ({@link AgentGrpc}); on a clustered node also on the data
 * channel ({@link AgentData}: observers send their steps there, not through the clustered event
 * bus's framing; {@link Addresses#AGENT_DATA_ENDPOINT} tells them where); on a plain node observers
 * in this process call the round directly ({@link LocalCalls}). All feed the same round. Once ready it
 * publishes {@link Addresses#AGENT_STARTED}, so observers already running register again. Thin:
 * the logic is in {@link Agent}.
 */
public final class AgentVerticle extends VerticleBase {

  private final AgentConfig config;
  private final MeterRegistry registry;
  private final DataChannelConfig dataChannel;
  private final Promise<Void> ready = Promise.promise();
  private Agent agent;
  private HttpServer grpcHttp;
  private DataServer dataServer;
  private LocalCalls.Registration localSteps;

  /**
   * An agent with a data channel on loopback (any free port) when its node is clustered.
   *
   * @param config the settings
   * @param registry where the agent's and the round's metrics go, or {@code null} for nowhere
   */
  public AgentVerticle(AgentConfig config, MeterRegistry registry) {
    this(config, registry, DataChannelConfig.loopback());
  }

  /**
   * @param config the settings
   * @param registry where the agent's and the round's metrics go, or {@code null} for nowhere
   * @param dataChannel where the data channel listens on a clustered node, or null for none (a
   *     local node has none: its event bus passes messages by reference)
   */
  public AgentVerticle(AgentConfig config, MeterRegistry registry, DataChannelConfig dataChannel) {
    this.config = config;
    this.registry = registry;
    this.dataChannel = dataChannel == null ? DataChannelConfig.off() : dataChannel;
  }

  @Override
  public Future<?> start() {
    ProtobufCodec.register(vertx);
    return Agent.create(context, config, registry).compose(a -> {
      agent = a;
      a.observersReady().onComplete(ready);
      List<Future<?>> needs = new ArrayList<>();
      // A step still in the open round when its requester's timeout passes leaves the round.
      needs.add(Consumers.serveMessages(vertx.eventBus(), Addresses.AGENT_SELECT_ACTION,
          SelectActionRequest.getDefaultInstance(), Agent.MAX_MESSAGE_BYTES,
          (q, msg) -> Consumers.untilCallerGivesUp(vertx, msg, gone -> a.selectAction(q, gone,
              "its event-bus requester's timeout passed"))).completion());
      if (!vertx.isClustered()) {
        // Observers in this process call the round directly (LocalCalls), not through the bus.
        localSteps = LocalCalls.<SelectActionRequest, SelectActionReply>register(vertx,
            Addresses.AGENT_SELECT_ACTION, (q, gone) -> a.selectAction(q, gone, "its requester's timeout passed"));
      }
      needs.add(Consumers.serveMessages(vertx.eventBus(), Addresses.AGENT_REGISTER,
          RegisterObserverRequest.getDefaultInstance(), Agent.MAX_MESSAGE_BYTES, a::register).completion());
      needs.add(Consumers.serve(vertx.eventBus(), Addresses.AGENT_LEAVE,
          LeaveRequest.getDefaultInstance(), a::leave).completion());
      needs.add(startData(a).compose(v -> Consumers.serve(vertx.eventBus(), Addresses.AGENT_DATA_ENDPOINT,
          DataEndpointRequest.getDefaultInstance(), q -> Future.succeededFuture(endpoint())).completion()));
      if (config.grpcPort() >= 0) {
        needs.add(GrpcServices.listen(vertx, new AgentGrpc(a), Agent.MAX_MESSAGE_BYTES, config.grpcHost(),
            config.grpcPort()).onSuccess(s -> grpcHttp = s));
      }
      return Future.all(needs);
    }).onSuccess(v -> vertx.eventBus().publish(Addresses.AGENT_STARTED, "started"));
  }

  private Future<Void> startData(Agent a) {
    if (!vertx.isClustered() || !dataChannel.enabled()) {
      return Future.succeededFuture();
    }
    // Steps are small: served on this verticle's own loop, where a step reaches the round and an
    // action its socket without a thread hand-off; no payloads, so no buffers to budget.
    return DataServer.listen(vertx, dataChannel.bindHost(), dataChannel.port(), AgentData.methods(a),
            0, 0, 0, 1, context)
        .onSuccess(d -> {
          dataServer = d;
          if (registry != null) {
            io.micrometer.core.instrument.FunctionCounter.builder("agent.data.mailbox.calls", d,
                    DataServer::mailboxCalls)
                .description("Steps and reports taken from same-host shared-memory mailboxes (--spin-us)")
                .register(registry);
          }
        })
        .mapEmpty();
  }

  private DataEndpoint endpoint() {
    if (dataServer == null) {
      return DataEndpoint.getDefaultInstance();
    }
    return DataEndpoint.newBuilder().setHost(dataChannel.advertisedHost()).setPort(dataServer.port())
        .setTls(Tls.of(vertx) != null).setMaxPayloadBytes(0)
        .setLocalPath(dataServer.localPath() == null ? "" : dataServer.localPath().toString()).build();
  }

  /** Steps and reports its data channel took from same-host mailboxes so far (0 without a channel). */
  public long mailboxCalls() {
    return dataServer == null ? 0 : dataServer.mailboxCalls();
  }

  /** The data channel's port, or -1 without one. Valid after deployment. */
  public int dataPort() {
    return dataServer == null ? -1 : dataServer.port();
  }

  @Override
  public Future<?> stop() {
    List<Future<?>> done = new ArrayList<>();
    if (localSteps != null) {
      localSteps.close();
    }
    if (grpcHttp != null) {
      done.add(grpcHttp.close());
    }
    if (dataServer != null) {
      done.add(dataServer.close());
    }
    if (agent != null) {
      done.add(agent.close());
    }
    return Future.join(done);
  }

  /** The gRPC port actually bound, or -1 without gRPC. */
  public int grpcPort() {
    return grpcHttp == null ? -1 : grpcHttp.actualPort();
  }

  /** Completes once all N observers have registered. */
  public Future<Void> observersReady() {
    return ready.future();
  }

  /**
   * Runs one episode on all live observers and one update. Call it from anywhere, once deployed;
   * one at a time. See {@link Agent#runEpisode(int)}.
   */
  public Future<EpisodeResult> runEpisode(int nSteps) {
    return agent.runEpisode(nSteps);
  }

  /** The policy's parameters now (read on the worker between rounds). Once deployed. */
  public Future<float[]> parameters() {
    return agent.parameters();
  }

  /** Per-request latency percentiles since the last call (receipt of a request to its answer). */
  public Future<LatencyLog.Summary> drainLatencies() {
    return agent.drainLatencies();
  }
}
