package dev.batchrpc.compute.rl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The bookkeeping on small hand-checkable sequences; observer-service's CartPoleFixtureTest covers
 * 500-step episodes.
 */
class EpisodeReturnsTest {

  private static final boolean T = true;
  private static final boolean F = false;

  @Test
  void undiscountedReturnsCountTheStepsLeftInEachSubEpisode() {
    // sub-episodes [0..2] (terminated at 2) and [3..4] (cut at the end of the episode)
    EpisodeReturns r = EpisodeReturns.ofTerminations(new boolean[] {F, F, T, F, F}, 1.0);
    assertThat(r.returns()).containsExactly(3f, 2f, 1f, 2f, 1f);
    assertThat(r.firstEpisodeReward()).isEqualTo(3);
  }

  @Test
  void discountedReturnsRunBackwardsInsideEachSubEpisode() {
    // gamma 0.5 is exact in float32: 1 + 0.5 (1 + 0.5) = 1.75
    EpisodeReturns r = EpisodeReturns.compute(
        new float[] {1f, 1f, 1f, 2f, 4f}, new boolean[] {F, F, T, F, T}, 0.5);
    assertThat(r.returns()).containsExactly(1.75f, 1.5f, 1f, 4f, 4f);
    assertThat(r.firstEpisodeReward()).isEqualTo(3);
  }

  @Test
  void discountIsAppliedInFloat32AsTheTutorialsTensorDoes() {
    float g = (float) 0.99;
    EpisodeReturns r = EpisodeReturns.ofTerminations(new boolean[] {F, F, F}, 0.99);
    float r2 = 1f;
    float r1 = 1f + g * r2;
    float r0 = 1f + g * r1;
    assertThat(r.returns()).containsExactly(r0, r1, r2);
  }

  @Test
  void anEpisodeWithoutTerminationIsOneSubEpisodeCappedAtItsLength() {
    EpisodeReturns r = EpisodeReturns.ofTerminations(new boolean[6], 1.0);
    assertThat(r.returns()).containsExactly(6f, 5f, 4f, 3f, 2f, 1f);
    assertThat(r.firstEpisodeReward()).isEqualTo(6);
  }

  @Test
  void terminationOnTheLastStepEndsTheFirstSubEpisodeThere() {
    EpisodeReturns r = EpisodeReturns.ofTerminations(new boolean[] {F, F, F, T}, 1.0);
    assertThat(r.firstEpisodeReward()).isEqualTo(4);
    assertThat(r.returns()).containsExactly(4f, 3f, 2f, 1f);
  }

  @Test
  void terminationOnTheFirstStepGivesAFirstEpisodeRewardOfOne() {
    EpisodeReturns r = EpisodeReturns.ofTerminations(new boolean[] {T, T, F}, 1.0);
    assertThat(r.firstEpisodeReward()).isEqualTo(1);
    assertThat(r.returns()).containsExactly(1f, 1f, 1f);
  }

  @Test
  void gammaZeroKeepsOnlyTheImmediateReward() {
    EpisodeReturns r = EpisodeReturns.compute(new float[] {3f, 5f, 7f}, new boolean[3], 0.0);
    assertThat(r.returns()).containsExactly(3f, 5f, 7f);
  }

  @Test
  void refusesMismatchedOrEmptySequencesAndLeavesInputsAlone() {
    float[] rewards = {1f, 1f, 1f};
    boolean[] flags = {F, T};
    assertThatThrownBy(() -> EpisodeReturns.compute(rewards, flags, 1.0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("3 rewards")
        .hasMessageContaining("2 termination flags");
    assertThat(rewards).containsExactly(1f, 1f, 1f);
    assertThat(flags).containsExactly(F, T);
    assertThatThrownBy(() -> EpisodeReturns.compute(new float[0], new boolean[0], 1.0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("positive length");
    assertThatThrownBy(() -> EpisodeReturns.compute(null, flags, 1.0))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @ParameterizedTest
  @ValueSource(doubles = {-0.1, 1.01, Double.NaN, Double.POSITIVE_INFINITY})
  void refusesAGammaOutsideZeroOne(double gamma) {
    assertThatThrownBy(() -> EpisodeReturns.ofTerminations(new boolean[] {F, T}, gamma))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("gamma")
        .hasMessageContaining(String.valueOf(gamma));
  }

  @Test
  void inputsAreNotModified() {
    float[] rewards = {1f, 2f, 3f};
    boolean[] flags = {F, T, F};
    EpisodeReturns r = EpisodeReturns.compute(rewards, flags, 0.9);
    assertThat(rewards).containsExactly(1f, 2f, 3f);
    assertThat(flags).containsExactly(F, T, F);
    assertThat(r.returns()).isNotSameAs(rewards);
  }
}
