package dev.batchrpc.observer;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.Nodes;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.spi.cluster.NodeListener;
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
 * {@code agent.register} after start, retrying every half second until an agent answers; so
 * observers and the agent may start in any order. It stays registered through the agent's
 * restarts and its own absences (docs/fault-tolerance.md, "Rejoin"): it registers again, giving up
 * an episode that waits for an action from a gone agent, when
 * <ul>
 *   <li>the agent's node (named in the registration's reply) leaves the cluster: the agent
 *       crashed or stopped, or this node was cut off from it (paused, partitioned);</li>
 *   <li>an agent announces its start on {@link Addresses#AGENT_STARTED} (a new one: it may be on
 *       the same node as the one before);</li>
 *   <li>this node rejoins the cluster after a split ({@link Nodes#watchRejoins}): the agent
 *       dropped this observer meanwhile.</li>
 * </ul>
 * {@link #onRegistration} hears each change (the observer command's {@code /health/ready}
 * condition "agent": DOWN with the reason while it is not registered).
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
  /** The node of the agent this observer is registered with; null while it is not registered. */
  private String agentNode;
  private Registration registration = (registered, reason) -> { };
  private Node.Watch members;
  private Node.Watch rejoins;

  /** Hears the observer's registration come and go. */
  @FunctionalInterface
  public interface Registration {
    /**
     * Called on the observer's event loop at each change.
     *
     * @param registered whether the agent counts this observer now
     * @param reason why not (null when registered)
     */
    void changed(boolean registered, String reason);
  }
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

  /**
   * Sets what hears the registration come and go; call before deploying. It hears
   * {@code (false, reason)} at once when the deployment registers.
   */
  public ObserverVerticle onRegistration(Registration listener) {
    this.registration = java.util.Objects.requireNonNull(listener, "listener");
    return this;
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
        RunEpisodeRequest.getDefaultInstance(), q -> {
          ActionSource source = actions;
          return runner.run(q, source).andThen(ar -> {
            if (ar.succeeded()) {
              source.episodeDone(ar.result());
            }
          });
        }).completion();
    if (!config.register()) {
      return episodes;
    }
    registration.changed(false, "not registered with an agent yet");
    members = Nodes.watchMembers(vertx, new NodeListener() {
      @Override
      public void nodeAdded(String nodeId) {
        // A new agent announces itself on agent.started.
      }

      @Override
      public void nodeLeft(String nodeId) {
        if (nodeId.equals(agentNode)) {
          agentLost("the agent's node " + nodeId + " left the cluster");
        }
      }
    });
    rejoins = Nodes.watchRejoins(vertx, () -> agentLost("this node rejoined the cluster after a split"));
    // A new agent, on another node or on the same one (redeployed): any episode still running
    // belongs to the one before it (an agent announces itself before its first episode, on the
    // same connection as its run-episode calls, so never during one of its own).
    Future<Void> agentStarts = vertx.eventBus().consumer(Addresses.AGENT_STARTED, m -> {
      String from = m.headers().get(Addresses.NODE_HEADER);
      agentLost("a new agent started" + (from == null ? "" : " on node " + from));
    }).completion();
    return Future.all(episodes, agentStarts).onSuccess(v -> register());
  }

  /**
   * The agent this observer was registered with is gone, or no longer counts it: give up an
   * episode that waits for its actions and register again. Event loop only.
   */
  private void agentLost(String reason) {
    if (stopped) {
      return;
    }
    agentNode = null;
    if (agentActions != null) {
      // The next step asks where the (new) agent's data channel is.
      agentActions.close();
    }
    if (runner.abandon(reason)) {
      LOG.log(Level.INFO, "observer ''{0}'': episode abandoned: {1}", new Object[] {config.id(), reason});
    }
    registration.changed(false, "not registered with an agent: " + reason + "; registering again");
    register();
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
    if (members != null) {
      members.cancel();
    }
    if (rejoins != null) {
      rejoins.cancel();
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
        .onSuccess(reply -> {
          // The header every clustered node stamps on its replies names the agent's node: its
          // departure means this registration is gone. (A local agent's node is never left.)
          agentNode = reply.headers().get(Addresses.NODE_HEADER);
          if (agentNode == null) {
            agentNode = Node.LOCAL_NODE_ID;
          }
          registration.changed(true, null);
          LOG.fine(() -> "observer '" + config.id() + "' registered; the agent knows "
              + reply.body().getObserverCount() + " observer(s)");
        })
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
            registration.changed(false, "the agent refused the registration: " + r.getMessage());
            refusal.tryFail(r);
          }
        });
  }
}
