package dev.batchrpc.observer;

import dev.batchrpc.compute.rl.EpisodeReturns;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.function.LongFunction;

/**
 * One observer's episode loop, the tutorial's {@code Observer.run_episode}: reset the environment,
 * then for each of {@code n_steps} steps ask for an action, step, record the reward and the
 * {@code done} flag, and reset when the environment is done (terminated or truncated, Gym's old
 * {@code done}) and after the last step. The reply carries every step's reward and flag, so the
 * agent computes the reward-to-go returns itself ({@link EpisodeReturns}); the episode reward is
 * the first sub-episode's length capped at {@code n_steps}.
 *
 * <p>Thread confinement: one runner belongs to one observer and is driven on one context (its
 * verticle's event loop); the environment steps there (microseconds each). At most one episode
 * runs at a time: a second request while one runs is refused with {@code UNAVAILABLE}.
 */
public final class EpisodeRunner {

  private final String observerId;
  private final LongFunction<CartPole> envForEpisode;
  private CartPole env;
  /** The episode running now, or null. */
  private Episode current;

  /**
   * A runner for observer {@code observerId}.
   *
   * @param observerId the id sent with each action request
   * @param envForEpisode a fresh environment for each agent episode number (seeded from it, so
   *     an episode is a pure function of (seed, observer, episode, actions))
   */
  public EpisodeRunner(String observerId, LongFunction<CartPole> envForEpisode) {
    this.observerId = observerId;
    this.envForEpisode = envForEpisode;
  }

  /**
   * Runs one episode, asking {@code actions} for each step's action.
   *
   * @return the rewards and done flags of every step; fails with {@code BAD_REQUEST} for
   *     a request naming another observer, {@code n_steps} outside [1, {@link Addresses#MAX_EPISODE_STEPS}] or an action other than 0 or 1, {@code UNAVAILABLE} while another episode runs, or the failure of an
   *     action request (the episode is abandoned; the next one starts afresh)
   */
  public Future<RunEpisodeReply> run(RunEpisodeRequest request, ActionSource actions) {
    if (!request.getObserverId().isEmpty() && !request.getObserverId().equals(observerId)) {
      return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "observer '" + observerId
          + "' was asked to run an episode for observer '" + request.getObserverId() + "'"));
    }
    int n = request.getNSteps();
    if (n <= 0 || n > Addresses.MAX_EPISODE_STEPS) {
      return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST,
          "observer '" + observerId + "': n_steps must be > 0 and at most " + Addresses.MAX_EPISODE_STEPS + ", got " + n));
    }
    if (current != null) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE,
          "observer '" + observerId + "' is already running an episode"));
    }
    env = envForEpisode.apply(request.getEpisode());
    Episode e = new Episode(request.getEpisode(), n, actions);
    current = e;
    e.state = env.reset();
    e.next();
    return e.promise.future().andThen(ar -> {
      if (current == e) {
        current = null;
      }
    });
  }

  /** True while an episode runs. */
  public boolean running() {
    return current != null;
  }

  /**
   * Gives up the running episode, if any: its agent is gone (its node left the cluster, or a new
   * agent started), so the action it waits for will never come, and a new agent's first episode
   * must not find this observer busy. The episode fails with {@code UNAVAILABLE} and
   * {@code reason}; a late answer to its pending action request is ignored.
   *
   * @return true if an episode was running
   */
  public boolean abandon(String reason) {
    Episode e = current;
    if (e == null) {
      return false;
    }
    current = null;
    e.abandoned = true;
    e.promise.tryFail(new RpcException(FailureCode.UNAVAILABLE, "observer '" + observerId + "' episode "
        + e.episode + " abandoned at step " + e.step + ": " + reason));
    return true;
  }

  /** The state of one running episode; confined to the runner's context. */
  private final class Episode {
    final long episode;
    final int n;
    final ActionSource actions;
    final float[] rewards;
    final boolean[] done;
    final Promise<RunEpisodeReply> promise = Promise.promise();
    float[] state;
    int step;
    /** Set by {@link #abandon}: answers arriving afterwards are ignored. */
    boolean abandoned;

    Episode(long episode, int n, ActionSource actions) {
      this.episode = episode;
      this.n = n;
      this.actions = actions;
      this.rewards = new float[n];
      this.done = new boolean[n];
    }

    /**
     * Asks for the action of {@code step}. Each reply schedules the next request from its own
     * callback (the reply arrives asynchronously), so the loop needs no future chain of n links.
     */
    void next() {
      SelectActionRequest q = SelectActionRequest.newBuilder()
          .setObserverId(observerId)
          .setEpisode(episode)
          .setStep(step)
          .setState(Tensors.vector(state))
          .build();
      Future<?> f;
      try {
        f = actions.selectAction(q).map(reply -> {
          if (!abandoned) {
            // (An abandoned episode's environment may be the next episode's by now.)
            apply(reply.getAction());
          }
          return null;
        });
      } catch (RuntimeException ex) {
        f = Future.failedFuture(ex);
      }
      f.onComplete(ar -> {
        if (abandoned) {
          return;
        }
        if (ar.failed()) {
          promise.fail(RpcException.of(ar.cause()));
        } else if (step == n) {
          promise.complete(reply());
        } else {
          next();
        }
      });
    }

    /** Steps the environment with the agent's action; any other action fails the episode unstepped. */
    void apply(int action) {
      if (action != 0 && action != 1) {
        // A misbehaving agent (a gRPC one, say): refuse before the environment moves.
        throw new RpcException(FailureCode.BAD_REQUEST, "observer '" + observerId + "' episode " + episode
            + " step " + step + ": the agent answered action " + action
            + ", but CartPole-v1 takes 0 (push left) or 1 (push right)");
      }
      CartPole.Step s = env.step(action);
      rewards[step] = (float) s.reward();
      boolean isDone = s.terminated() || s.truncated();
      done[step] = isDone;
      // The tutorial resets when done and after the last step (the next episode resets again).
      state = isDone || step + 1 == n ? env.reset() : s.observation();
      step++;
    }

    RunEpisodeReply reply() {
      RunEpisodeReply.Builder b = RunEpisodeReply.newBuilder().setObserverId(observerId).setEpisode(episode);
      for (int i = 0; i < n; i++) {
        b.addRewards(rewards[i]);
        b.addTerminated(done[i]);
      }
      // gamma does not change the first sub-episode's length.
      b.setFirstEpisodeReward(EpisodeReturns.compute(rewards, done, 1.0).firstEpisodeReward());
      return b.build();
    }
  }
}
