package dev.batchrpc.agent;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.grpc.GrpcServices;
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
 * {@code --grpc-port -1}, over gRPC ({@link AgentGrpc}); all feed the same round. Once ready it
 * publishes {@link Addresses#AGENT_STARTED}, so observers already running register again. Thin:
 * the logic is in {@link Agent}.
 */
public final class AgentVerticle extends VerticleBase {

  private final AgentConfig config;
  private final MeterRegistry registry;
  private final Promise<Void> ready = Promise.promise();
  private Agent agent;
  private HttpServer grpcHttp;

  /**
   * An agent.
   *
   * @param config the settings
   * @param registry where the agent's and the round's metrics go, or {@code null} for nowhere
   */
  public AgentVerticle(AgentConfig config, MeterRegistry registry) {
    this.config = config;
    this.registry = registry;
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
      needs.add(Consumers.serveMessages(vertx.eventBus(), Addresses.AGENT_REGISTER,
          RegisterObserverRequest.getDefaultInstance(), Agent.MAX_MESSAGE_BYTES, a::register).completion());
      needs.add(Consumers.serve(vertx.eventBus(), Addresses.AGENT_LEAVE,
          LeaveRequest.getDefaultInstance(), a::leave).completion());
      if (config.grpcPort() >= 0) {
        needs.add(GrpcServices.listen(vertx, new AgentGrpc(a), Agent.MAX_MESSAGE_BYTES, config.grpcHost(),
            config.grpcPort()).onSuccess(s -> grpcHttp = s));
      }
      return Future.all(needs);
    }).onSuccess(v -> vertx.eventBus().publish(Addresses.AGENT_STARTED, "started"));
  }

  @Override
  public Future<?> stop() {
    List<Future<?>> done = new ArrayList<>();
    if (grpcHttp != null) {
      done.add(grpcHttp.close());
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
