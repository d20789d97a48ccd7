package dev.batchrpc.agent;

import static dev.batchrpc.agent.StepGateTest.request;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.round.Arrival;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Arrivals to rows: ordered by step, then observer index, whatever the arrival order. */
class StepBatcherTest {

  private static final List<String> IDS = List.of("observer-0", "observer-1", "observer-2", "observer-3");
  private final StepGate gate = new StepGate(IDS);

  @Test
  void oneStepBecomesOneGroupInObserverOrderAndEachRowKnowsItsArrival() {
    // arrival order 2, 0, 3, 1
    List<Arrival<SelectActionRequest>> arrivals = List.of(arrival(2, 5), arrival(0, 5), arrival(3, 5), arrival(1, 5));
    List<StepBatcher.StepRows> groups = StepBatcher.rows(arrivals, gate::indexOf);
    assertThat(groups).hasSize(1);
    StepBatcher.StepRows rows = groups.get(0);
    assertThat(rows.step()).isEqualTo(5);
    assertThat(rows.size()).isEqualTo(4);
    assertThat(rows.observers()).containsExactly(0, 1, 2, 3);
    assertThat(rows.arrivals()).containsExactly(1, 3, 0, 2);
    for (int r = 0; r < 4; r++) {
      assertThat(rows.states()[r]).containsExactly(state(rows.observers()[r], 5));
      assertThat(arrivals.get(rows.arrivals()[r]).participantId()).isEqualTo(IDS.get(rows.observers()[r]));
    }
  }

  @Test
  void aStragglersLateStepIsAGroupOfItsOwnBeforeTheOthersNextStep() {
    // after a round closed by the maximum wait: observer 2's step 3 arrives with the others' step 4
    List<Arrival<SelectActionRequest>> arrivals = List.of(arrival(3, 4), arrival(2, 3), arrival(0, 4), arrival(1, 4));
    List<StepBatcher.StepRows> groups = StepBatcher.rows(arrivals, gate::indexOf);
    assertThat(groups).extracting(StepBatcher.StepRows::step).containsExactly(3, 4);
    assertThat(groups.get(0).observers()).containsExactly(2);
    assertThat(groups.get(0).arrivals()).containsExactly(1);
    assertThat(groups.get(1).observers()).containsExactly(0, 1, 3);
    assertThat(groups.get(1).arrivals()).containsExactly(2, 3, 0);
  }

  @Test
  void aRoundOfOneIsOneRowAndTheTutorials1x4StateIsRead() {
    SelectActionRequest q = SelectActionRequest.newBuilder().setObserverId("observer-3").setStep(0)
        .setState(Tensors.of(state(3, 0), 1, 4)).build();
    List<StepBatcher.StepRows> groups = StepBatcher.rows(List.of(new Arrival<>("observer-3", q)), gate::indexOf);
    assertThat(groups).hasSize(1);
    assertThat(groups.get(0).observers()).containsExactly(3);
    assertThat(groups.get(0).states()[0]).containsExactly(state(3, 0));
  }

  @Test
  void noArrivalsNoRows() {
    assertThat(StepBatcher.rows(List.of(), gate::indexOf)).isEmpty();
  }

  private static Arrival<SelectActionRequest> arrival(int observer, int step) {
    String id = IDS.get(observer);
    return new Arrival<>(id, request(id, 0, step, state(observer, step)));
  }

  /** A state that names its observer and step. */
  private static float[] state(int observer, int step) {
    return new float[] {observer, step, observer + 0.5f, -step};
  }
}
