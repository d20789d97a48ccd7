package dev.batchrpc.observer;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.bus.Consumers;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An observer: one seeded CartPole-v1 that runs episodes for the agent.
 *
 * <p>Listens at {@code observer.<id>.run-episode} ({@link RunEpisodeRequest} in,
 * {@link dev.batchrpc.proto.v1.RunEpisodeReply} out; {@code BAD_REQUEST} for {@code n_steps}
 * outside [1, {@link Addresses#MAX_EPISODE_STEPS}] or an agent's action other than 0 or 1,
 * {@code UNAVAILABLE} while an episode runs). Every step it asks the agent for its action
 * ({@link AgentActions}: on the agent's data channel when it has one, else at
 * {@code agent.select-action} on the event bus), unless another {@link ActionSource} was given.
 *
 * <p>Registration: when {@link ObserverConfig#register()} is set it announces itself at
 * {@code agent.register} after start, retrying every half second until an agent answers, and again
 * whenever an agent announces its start on {@link Addresses#AGENT_STARTED}; so observers and the
 * agent may start in any order.
 *
 * <p>Thread confinement: the environment and the episode state live on this verticle's event loop.
 */
public final class ObserverVerticle extends VerticleBase {

  private static final Logger LOG = Logger.getLogger(ObserverVerticle.class.getName());
  private static final long REGISTER_RETRY_MS = 500;

  private final ObserverConfig config;
  private final ActionSource actionSourceOverride;
  private EpisodeRunner runner;
  private ActionSource actions;
  private AgentActions agentActions;
  private boolean stopped;
  private long registerTimer = -1;

  /** An observer asking the agent over the event bus. */
  public ObserverVerticle(ObserverConfig config) {
    this(config, null);
  }

  /**
   * An observer asking {@code actions} for its actions (e.g. a gRPC client of the agent).
   *
   * @param actions the action source, or {@code null} for the event bus
   */
  public ObserverVerticle(ObserverConfig config, ActionSource actions) {
    this.config = config;
    this.actionSourceOverride = actions;
  }

  @Override
  public Future<?> start() {
    ProtobufCodec.register(vertx);
    runner = new EpisodeRunner(config.id(), episode -> new CartPole(config.environmentSeed(episode)));
    if (actionSourceOverride == null) {
      agentActions = new AgentActions(vertx, config.id(), config.actionTimeoutMs());
    }
    actions = actionSourceOverride != null ? actionSourceOverride : agentActions;
    Future<Void> episodes = Consumers.serve(vertx.eventBus(), Addresses.observerRunEpisode(config.id()),
        RunEpisodeRequest.getDefaultInstance(), q -> runner.run(q, actions)).completion();
    if (!config.register()) {
      return episodes;
    }
    Future<Void> agentStarts = vertx.eventBus().consumer(Addresses.AGENT_STARTED, m -> register())
        .completion();
    return Future.all(episodes, agentStarts).onSuccess(v -> register());
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    if (registerTimer >= 0) {
      vertx.cancelTimer(registerTimer);
    }
    return agentActions == null ? Future.succeededFuture() : agentActions.close();
  }

  /** Announces this observer; retries while no agent listens. Event loop only. */
  private void register() {
    if (registerTimer >= 0) {
      vertx.cancelTimer(registerTimer);
      registerTimer = -1;
    }
    RegisterObserverRequest q = RegisterObserverRequest.newBuilder().setObserverId(config.id()).build();
    // The node header every clustered node stamps on what it sends lets the agent drop this
    // observer when its node leaves the cluster.
    vertx.eventBus().<RegisterObserverReply>request(Addresses.AGENT_REGISTER, q, ProtobufCodec.options(5_000))
        .onSuccess(reply -> LOG.fine(() -> "observer '" + config.id() + "' registered; the agent knows "
            + reply.body().getObserverCount() + " observer(s)"))
        .onFailure(e -> {
          RpcException r = RpcException.of(e);
          if (r.code() == FailureCode.UNAVAILABLE && !stopped) {
            // No agent yet (or it is starting): try again shortly.
            registerTimer = vertx.setTimer(REGISTER_RETRY_MS, t -> {
              registerTimer = -1;
              register();
            });
          } else if (!stopped) {
            LOG.log(Level.WARNING, "observer ''{0}'': the agent refused the registration: {1}",
                new Object[] {config.id(), r.getMessage()});
          }
        });
  }
}
