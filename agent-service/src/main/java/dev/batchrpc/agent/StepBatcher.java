package dev.batchrpc.agent;

import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.round.Arrival;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Turns the arrivals of one step round into the policy's rows: a pure function, no Vert.x and no
 * policy in it.
 *
 * <p>Rows are ordered by step, then by observer index, never by arrival: an observer's row (and
 * so its draws and its action) does not depend on timing. A round holds one step, except after a
 * round closed by the maximum wait, when a straggler's late step may share a round with the
 * others' next one: each step is then its own group, and its own forward pass.
 */
final class StepBatcher {

  /**
   * One forward pass: the rows of one step.
   *
   * @param step the step
   * @param observers each row's observer index, ascending
   * @param states each row's 4 state values
   * @param arrivals each row's position in the round's arrival list (where its reply goes)
   */
  record StepRows(int step, int[] observers, float[][] states, int[] arrivals) {

    /** The number of rows. */
    int size() {
      return observers.length;
    }
  }

  private StepBatcher() {
  }

  /**
   * The rows of a round's arrivals, grouped by step.
   *
   * @param arrivals the round's arrivals, each admitted by the {@link StepGate} (a known observer
   *     and a state of 4 values)
   * @param indexOf an observer's index among the agent's observers
   * @return one group per step present, steps ascending, rows by observer index within a group;
   *     every arrival is in exactly one row
   */
  static List<StepRows> rows(List<Arrival<SelectActionRequest>> arrivals, ToIntFunction<String> indexOf) {
    int b = arrivals.size();
    Integer[] order = new Integer[b];
    int[] indexOfArrival = new int[b];
    for (int k = 0; k < b; k++) {
      order[k] = k;
      indexOfArrival[k] = indexOf.applyAsInt(arrivals.get(k).participantId());
    }
    Arrays.sort(order, (x, y) -> {
      int byStep = Integer.compare(arrivals.get(x).request().getStep(), arrivals.get(y).request().getStep());
      return byStep != 0 ? byStep : Integer.compare(indexOfArrival[x], indexOfArrival[y]);
    });
    List<StepRows> groups = new ArrayList<>();
    for (int from = 0; from < b; ) {
      int step = arrivals.get(order[from]).request().getStep();
      int to = from;
      while (to < b && arrivals.get(order[to]).request().getStep() == step) {
        to++;
      }
      int rows = to - from;
      int[] observers = new int[rows];
      float[][] states = new float[rows][];
      int[] positions = new int[rows];
      for (int r = 0; r < rows; r++) {
        Arrival<SelectActionRequest> a = arrivals.get(order[from + r]);
        positions[r] = order[from + r];
        observers[r] = indexOfArrival[positions[r]];
        states[r] = StepGate.state(a.participantId(), a.request());
      }
      groups.add(new StepRows(step, observers, states, positions));
      from = to;
    }
    return groups;
  }
}
