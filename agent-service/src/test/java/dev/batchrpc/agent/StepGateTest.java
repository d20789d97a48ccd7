package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.runtime.RpcException;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/** The step gate alone: every refusal with its code, and a refusal never counts as a step. */
class StepGateTest {

  private static final List<String> IDS = List.of("observer-0", "observer-1", "observer-2");
  private static final float[] STATE = {0.01f, -0.02f, 0.03f, -0.04f};

  private final StepGate gate = new StepGate(IDS);

  @Test
  void indicesFollowTheOrderOfTheIds() {
    assertThat(gate.indexOf("observer-0")).isZero();
    assertThat(gate.indexOf("observer-2")).isEqualTo(2);
    assertThat(gate.indexOf("ghost")).isEqualTo(-1);
  }

  @Test
  void eachObserversStepsAreAdmittedInOrderAndOnceEach() {
    gate.open(4, 3);
    for (int step = 0; step < 3; step++) {
      for (String id : IDS) {
        admit(id, 4, step);
      }
    }
    // every step of the episode is spent: one more is past its end
    refusedStep("observer-0", 4, 3, FailureCode.BAD_REQUEST,
        "sent step 3 of episode 4 but its next step is 3 (the episode has 3 steps)");
  }

  @Test
  void aRepeatedStepIsADuplicateAndASkippedOneABadRequest() {
    gate.open(0, 10);
    admit("observer-1", 0, 0);
    refusedStep("observer-1", 0, 0, FailureCode.DUPLICATE,
        "already sent step 0 of episode 0 (next expected: 1)");
    refusedStep("observer-1", 0, 2, FailureCode.BAD_REQUEST,
        "sent step 2 of episode 0 but its next step is 1");
    // neither refusal moved it on: step 1 is next
    admit("observer-1", 0, 1);
    // the others' counts are their own
    admit("observer-0", 0, 0);
  }

  @Test
  void nothingIsAdmittedWhileNoEpisodeIsOpen() {
    refusedStep("observer-0", 0, 0, FailureCode.UNAVAILABLE,
        "no episode is running (observer 'observer-0' asked for episode 0, step 0)");
    gate.open(0, 5);
    admit("observer-0", 0, 0);
    gate.close();
    refusedStep("observer-0", 0, 1, FailureCode.UNAVAILABLE,
        "no episode is running");
  }

  @Test
  void reopeningStartsEveryObserverAtStepZeroOfTheNewEpisode() {
    gate.open(0, 5);
    admit("observer-0", 0, 0);
    admit("observer-0", 0, 1);
    gate.open(1, 5);
    refusedStep("observer-0", 0, 2, FailureCode.BAD_REQUEST,
        "sent episode 0 but episode 1 is running");
    admit("observer-0", 1, 0);
  }

  @Test
  void unknownObserversAndObserversOutsideTheEpisodeAreUnknownParticipants() {
    refusedStep("ghost", 0, 0, FailureCode.UNKNOWN_PARTICIPANT,
        "observer 'ghost' is not one of the agent's 3 observers");
    gate.open(7, 5, new boolean[] {true, false, true});
    refusedStep("observer-1", 7, 0, FailureCode.UNKNOWN_PARTICIPANT,
        "observer 'observer-1' is not part of episode 7");
    admit("observer-2", 7, 0);
    // open(episode, steps) admits everyone again
    gate.open(8, 5);
    admit("observer-1", 8, 0);
  }

  @Test
  void nonFiniteStatesAreRefusedAndTheStepStaysOpen() {
    gate.open(0, 5);
    refused(() -> gate.check("observer-0", request("observer-0", 0, 0, new float[] {0f, Float.NaN, 0f, 0f})),
        FailureCode.NON_FINITE, "observer 'observer-0' step 0: the state must be finite");
    refused(() -> gate.check("observer-0",
        request("observer-0", 0, 0, new float[] {Float.NEGATIVE_INFINITY, 0f, 0f, 0f})), FailureCode.NON_FINITE,
        "-Infinity");
    admit("observer-0", 0, 0);
  }

  @Test
  void aStateHasShape4OrTheTutorials1x4() {
    assertThat(StepGate.state("o", request("o", 0, 0, STATE))).containsExactly(STATE);
    SelectActionRequest rowVector = SelectActionRequest.newBuilder().setObserverId("o")
        .setState(Tensors.of(STATE, 1, 4)).build();
    assertThat(StepGate.state("o", rowVector)).containsExactly(STATE);
    refused(() -> StepGate.state("o", SelectActionRequest.newBuilder().setObserverId("o").build()),
        FailureCode.SHAPE_MISMATCH, "observer 'o' sent no state");
    refused(() -> StepGate.state("o", request("o", 0, 3, new float[3])), FailureCode.SHAPE_MISMATCH,
        "step 3: the state must have shape [4] (x, x_dot, theta, theta_dot), got [3]");
    refused(() -> StepGate.state("o", SelectActionRequest.newBuilder().setObserverId("o")
            .setState(Tensors.of(new float[4], 2, 2)).build()), FailureCode.SHAPE_MISMATCH, "got [2, 2]");
    // shape [4] but 3 floats of data
    Tensor shortData = Tensor.newBuilder().addShape(4).setData(ByteString.copyFrom(new byte[12])).build();
    refused(() -> StepGate.state("o", SelectActionRequest.newBuilder().setObserverId("o").setState(shortData).build()),
        FailureCode.SHAPE_MISMATCH, "observer 'o' step 0: tensor of shape [4] needs 16 bytes");
  }

  @Test
  void aBadStateIsRefusedByTheGateBeforeItCountsAsAStep() {
    gate.open(0, 5);
    refused(() -> gate.check("observer-0", request("observer-0", 0, 0, new float[5])), FailureCode.SHAPE_MISMATCH,
        "got [5]");
    admit("observer-0", 0, 0);
  }

  private void admit(String id, long episode, int step) {
    gate.check(id, request(id, episode, step, STATE));
  }

  private void refusedStep(String id, long episode, int step, FailureCode code, String text) {
    refused(() -> gate.check(id, request(id, episode, step, STATE)), code, text);
  }

  private static void refused(ThrowingCallable call, FailureCode code, String text) {
    assertThatThrownBy(call).isInstanceOf(RpcException.class)
        .satisfies(e -> assertThat(((RpcException) e).code()).isEqualTo(code))
        .hasMessageContaining(text);
  }

  static SelectActionRequest request(String id, long episode, int step, float[] state) {
    return SelectActionRequest.newBuilder().setObserverId(id).setEpisode(episode).setStep(step)
        .setState(Tensors.vector(state)).build();
  }
}
