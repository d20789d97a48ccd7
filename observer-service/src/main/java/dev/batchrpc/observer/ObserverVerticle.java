package dev.batchrpc.observer;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.bus.Consumers;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An observer: one seeded CartPole-v1 that runs episodes for the agent.
 *
 * <p>Listens at {@code observer.<id>.run-episode} ({@link RunEpisodeRequest} in,
 * {@link dev.batchrpc.proto.v1.RunEpisodeReply} out; {@code BAD_REQUEST} for {@code n_steps}
 * outside [1, {@link Addresses#MAX_EPISODE_STEPS}] or an agent's action other than 0 or 1,
 * {@code UNAVAILABLE} while an episode runs). Every step it asks the agent at
 * {@code agent.select-action}, unless another {@link ActionSource} was given.
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
  private boolean stopped;
  private long registerTimer = -1;
  /** Fails when the agent refuses this observer for good (not "no agent yet"). */
  private final io.vertx.core.Promise<Void> refusal = io.vertx.core.Promise.promise();

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
    actions = actionSourceOverride != null ? actionSourceOverride
        : q -> vertx.eventBus().<SelectActionReply>request(Addresses.AGENT_SELECT_ACTION, q,
            ProtobufCodec.options(config.actionTimeoutMs())).map(Message::body);
    Future<Void> episodes = Consumers.serve(vertx.eventBus(), Addresses.observerRunEpisode(config.id()),
        RunEpisodeRequest.getDefaultInstance(), q -> runner.run(q, actions)).completion();
    if (!config.register()) {
      return episodes;
    }
    Future<Void> agentStarts = vertx.eventBus().consumer(Addresses.AGENT_STARTED, m -> register())
        .completion();
    return Future.all(episodes, agentStarts).onSuccess(v -> register());
  }

  /**
   * Fails with the agent's refusal when it refuses this observer's registration for a reason
   * that will not go away by retrying ({@code DUPLICATE}: another observer is live under this id;
   * {@code UNKNOWN_PARTICIPANT}, {@code BAD_REQUEST}); the {@code observer} command then exits 1
   * with it. Never completes otherwise.
   */
  public Future<Void> refused() {
    return refusal.future();
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    if (registerTimer >= 0) {
      vertx.cancelTimer(registerTimer);
    }
    return Future.succeededFuture();
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
            refusal.tryFail(r);
          }
        });
  }
}
