package dev.batchrpc.agent;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.StatusException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * One episode's state on the agent: its number and length, the observers taking part, their
 * run-episode calls still unanswered, and what they reported.
 *
 * <p>A member's call ends one of three ways: answered (its rewards count), refused by a live
 * observer (the episode fails), or <em>excluded</em>: the observer left, its call failed for want
 * of an answer, or it missed a step round and sits out ({@link #exclude}); the episode then
 * finishes with the others and updates on their rows only.
 *
 * <p>Confined to the agent's event loop.
 */
final class EpisodeRun {

  /**
   * The rewards of the observers that finished the episode, in observer-index order; an observer
   * not {@code included} has null rows.
   */
  record Reports(float[][] rewards, boolean[][] done, float[] firstEpisodeRewards, boolean[] included) {
  }

  /** The failure of a run-episode call of an observer that left or sits out the episode. */
  static final class Excluded extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Excluded(String id, String why) {
      super("observer '" + id + "' is left out of this episode: " + why, null, false, false);
    }
  }

  private final long episode;
  private final int steps;
  private final List<String> members;
  private final ToIntFunction<String> indexOf;
  private final int observers;
  private final long startNanos = System.nanoTime();
  /** The unanswered run-episode calls, by observer. */
  private final Map<String, Promise<RunEpisodeReply>> calls = new HashMap<>();
  /** One per member, in {@link #members} order. */
  private final List<Future<RunEpisodeReply>> replies = new ArrayList<>();

  /**
   * @param episode the episode's number
   * @param steps its steps per observer
   * @param members the observers taking part, in index order
   * @param indexOf an observer's index
   * @param observers N, the agent's number of observers
   */
  EpisodeRun(long episode, int steps, List<String> members, ToIntFunction<String> indexOf, int observers) {
    this.episode = episode;
    this.steps = steps;
    this.members = List.copyOf(members);
    this.indexOf = indexOf;
    this.observers = observers;
  }

  long episode() {
    return episode;
  }

  int steps() {
    return steps;
  }

  /** Seconds since the run was created. */
  double seconds() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  /** The request every member gets. */
  RunEpisodeRequest request() {
    return RunEpisodeRequest.newBuilder().setEpisode(episode).setNSteps(steps).build();
  }

  /** Which observer indices take part. */
  boolean[] membersByIndex() {
    boolean[] in = new boolean[observers];
    for (String id : members) {
      in[indexOf.applyAsInt(id)] = true;
    }
    return in;
  }

  /**
   * Calls every member.
   *
   * @param call makes one member's run-episode call
   * @param lost told of a member whose call failed for want of an answer (no handler, no answer
   *     in time, a broken connection), before its call is excluded
   * @return every call answered or excluded: the replies in member order; fails with the refusal
   *     of a live observer
   */
  Future<List<Future<RunEpisodeReply>>> callAll(Function<String, Future<RunEpisodeReply>> call,
                                                BiConsumer<String, Throwable> lost) {
    for (String id : members) {
      Promise<RunEpisodeReply> reply = Promise.promise();
      calls.put(id, reply);
      call.apply(id).onComplete(ar -> {
        if (calls.remove(id, reply)) {
          if (ar.failed() && isLoss(ar.cause())) {
            lost.accept(id, ar.cause());
            reply.tryFail(new Excluded(id, "no answer"));
          } else {
            reply.handle(ar);
          }
        }
      });
      replies.add(reply.future());
    }
    return Future.join(replies).transform(ignored -> {
      for (Future<RunEpisodeReply> r : replies) {
        if (r.failed() && !(r.cause() instanceof Excluded)) {
          return Future.failedFuture(r.cause());
        }
      }
      return Future.succeededFuture(replies);
    });
  }

  /** Whether the member's call is still unanswered. */
  boolean waitsFor(String id) {
    return calls.containsKey(id);
  }

  /**
   * An observer's report that came another way than as the answer to its call (the data
   * channel): it answers the call if the call still waits.
   *
   * @return whether it answered the call (false: answered already, excluded, or not a member)
   */
  boolean answer(String id, RunEpisodeReply report) {
    Promise<RunEpisodeReply> p = calls.remove(id);
    return p != null && p.tryComplete(report);
  }

  /** Stops waiting for an observer's call: it is left out of this episode's update. */
  void exclude(String id, String why) {
    Promise<RunEpisodeReply> p = calls.remove(id);
    if (p != null) {
      p.tryFail(new Excluded(id, why));
    }
  }

  /** Waits for no call any more (the episode is over). */
  void endCalls() {
    calls.clear();
  }

  /**
   * What the members that finished reported, once every call is answered or excluded.
   *
   * @return fails with {@code BAD_REQUEST} for a report of the wrong length, {@code UNAVAILABLE}
   *     when no member finished
   */
  Future<Reports> reports() {
    float[][] rewards = new float[observers][];
    boolean[][] done = new boolean[observers][];
    float[] first = new float[observers];
    boolean[] included = new boolean[observers];
    boolean any = false;
    for (int k = 0; k < members.size(); k++) {
      Future<RunEpisodeReply> f = replies.get(k);
      if (f.failed()) {
        continue;
      }
      int i = indexOf.applyAsInt(members.get(k));
      RunEpisodeReply r = f.result();
      if (r.getRewardsCount() != steps || r.getTerminatedCount() != steps) {
        return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "observer '"
            + members.get(k) + "' reported " + r.getRewardsCount() + " rewards and "
            + r.getTerminatedCount() + " flags for " + steps + " steps"));
      }
      rewards[i] = new float[steps];
      done[i] = new boolean[steps];
      for (int t = 0; t < steps; t++) {
        rewards[i][t] = r.getRewards(t);
        done[i][t] = r.getTerminated(t);
      }
      first[i] = r.getFirstEpisodeReward();
      included[i] = true;
      any = true;
    }
    if (!any) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "episode " + episode
          + ": every observer left or sat out before the end"));
    }
    return Future.succeededFuture(new Reports(rewards, done, first, included));
  }

  /**
   * Whether a failed run-episode call means the observer is gone (no handler, no answer in time,
   * a broken connection) rather than that it reported a refusal.
   */
  static boolean isLoss(Throwable failure) {
    if (failure instanceof StatusException status) {
      return status.status() == GrpcStatus.UNAVAILABLE || status.status() == GrpcStatus.DEADLINE_EXCEEDED;
    }
    if (failure instanceof RpcException || failure instanceof ReplyException) {
      return RpcException.of(failure).code() == FailureCode.UNAVAILABLE;
    }
    // A gRPC transport failure: connection refused or reset, stream closed.
    return true;
  }
}
