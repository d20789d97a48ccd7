package dev.batchrpc.agent;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.runtime.RpcException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Admits action requests into the agent's round: the right episode, each observer's steps in order
 * and once each, a finite state of 4 values. It is the round's validator, so a refused request
 * never joins (or harms) a round.
 *
 * <p>Why step tracking: the round refuses a second request of an observer only while that round
 * is open; a repeated step sent after its round closed would otherwise join the next step's round.
 * Since each observer waits for its action before sending its next step, the gate's ordering also
 * guarantees that every batch-mode round holds exactly one row per observer, all of the same step.
 *
 * <p>Confined to the agent verticle's event loop (the round's owner context).
 */
final class StepGate {

  private final Map<String, Integer> index = new HashMap<>();
  private final int[] next;
  /** The observers taking part in the open episode. */
  private final boolean[] member;
  private boolean open;
  private long episode = -1;
  private int steps;

  /** A gate for the observers {@code ids}, in index order. */
  StepGate(List<String> ids) {
    for (int i = 0; i < ids.size(); i++) {
      index.put(ids.get(i), i);
    }
    next = new int[ids.size()];
    member = new boolean[ids.size()];
  }

  /** The index of observer {@code id}, or -1. */
  int indexOf(String id) {
    Integer i = index.get(id);
    return i == null ? -1 : i;
  }

  /** Admits the steps 0..steps-1 of {@code episode} from every observer, from now on. */
  void open(long episode, int steps) {
    boolean[] all = new boolean[next.length];
    java.util.Arrays.fill(all, true);
    open(episode, steps, all);
  }

  /** Admits the steps 0..steps-1 of {@code episode} from the observers in {@code members}. */
  void open(long episode, int steps, boolean[] members) {
    this.episode = episode;
    this.steps = steps;
    java.util.Arrays.fill(next, 0);
    System.arraycopy(members, 0, member, 0, member.length);
    open = true;
  }

  /** The next step expected from {@code id} in the open episode (steps it sent so far), or -1. */
  int next(String id) {
    Integer i = index.get(id);
    return i == null ? -1 : next[i];
  }

  /** Admits nothing until the next {@link #open}. */
  void close() {
    open = false;
  }

  /**
   * Accepts (and counts) the request, or refuses it.
   *
   * @throws RpcException {@code UNKNOWN_PARTICIPANT}, {@code UNAVAILABLE} (no episode running),
   *     {@code BAD_REQUEST} (wrong episode, skipped or out-of-range step), {@code DUPLICATE} (a step
   *     this observer already sent), {@code SHAPE_MISMATCH}, {@code NON_FINITE}
   */
  void check(String id, SelectActionRequest q) {
    int i = indexOf(id);
    if (i < 0) {
      throw new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "observer '" + id + "' is not one of the agent's "
          + next.length + " observers");
    }
    if (!open) {
      throw new RpcException(FailureCode.UNAVAILABLE, "no episode is running (observer '" + id
          + "' asked for episode " + q.getEpisode() + ", step " + q.getStep() + ")");
    }
    if (!member[i]) {
      throw new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "observer '" + id + "' is not part of episode "
          + episode + " (it left or was not live when the episode started)");
    }
    if (q.getEpisode() != episode) {
      throw new RpcException(FailureCode.BAD_REQUEST, "observer '" + id + "' sent episode "
          + q.getEpisode() + " but episode " + episode + " is running");
    }
    float[] state = state(id, q);
    for (float v : state) {
      if (!Float.isFinite(v)) {
        throw new RpcException(FailureCode.NON_FINITE, "observer '" + id + "' step " + q.getStep()
            + ": the state must be finite, got " + java.util.Arrays.toString(state));
      }
    }
    int step = q.getStep();
    if (step < next[i]) {
      throw new RpcException(FailureCode.DUPLICATE, "observer '" + id + "' already sent step " + step
          + " of episode " + episode + " (next expected: " + next[i] + ")");
    }
    if (step != next[i] || step >= steps) {
      throw new RpcException(FailureCode.BAD_REQUEST, "observer '" + id + "' sent step " + step
          + " of episode " + episode + " but its next step is " + next[i] + " (the episode has "
          + steps + " steps)");
    }
    next[i]++;
  }

  /**
   * Un-counts a step that {@link #check} admitted and whose request then left its round (its
   * caller gave up before the round closed), so the observer may send it again. Only its latest
   * step of the running episode can be taken back; anything else is ignored.
   */
  void takeBack(String id, long episode, int step) {
    int i = indexOf(id);
    if (i >= 0 && open && episode == this.episode && next[i] == step + 1) {
      next[i] = step;
    }
  }

  /**
   * The state of a request as 4 floats: shape [4] (or the tutorial's [1, 4]).
   *
   * @throws RpcException {@code SHAPE_MISMATCH} otherwise
   */
  static float[] state(String id, SelectActionRequest q) {
    if (!q.hasState()) {
      throw new RpcException(FailureCode.SHAPE_MISMATCH, "observer '" + id + "' sent no state");
    }
    Tensor t = q.getState();
    int dims = t.getShapeCount();
    boolean ok = (dims == 1 && t.getShape(0) == 4) || (dims == 2 && t.getShape(0) == 1 && t.getShape(1) == 4);
    if (!ok) {
      throw new RpcException(FailureCode.SHAPE_MISMATCH, "observer '" + id + "' step " + q.getStep()
          + ": the state must have shape [4] (x, x_dot, theta, theta_dot), got " + t.getShapeList());
    }
    try {
      return Tensors.toFloats(q.getState());
    } catch (IllegalArgumentException e) {
      throw new RpcException(FailureCode.SHAPE_MISMATCH, "observer '" + id + "' step " + q.getStep()
          + ": " + e.getMessage());
    }
  }
}
