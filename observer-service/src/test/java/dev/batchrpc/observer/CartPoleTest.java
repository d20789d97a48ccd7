package dev.batchrpc.observer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CartPoleTest {

  private static final double[] START = {0.01, -0.02, 0.03, 0.04};

  @Test
  void seededResetIsDeterministicAndInsideTheOpenInterval() {
    CartPole a = new CartPole(42);
    CartPole b = new CartPole(42);
    for (int i = 0; i < 1000; i++) {
      float[] obsA = a.reset();
      b.reset();
      assertThat(a.state()).containsExactly(b.state());
      assertThat(obsA).containsExactly(a.observation());
      for (double v : a.state()) {
        assertThat(v).isGreaterThan(-CartPole.RESET_BOUND).isLessThan(CartPole.RESET_BOUND);
      }
    }
  }

  @Test
  void resetDrawsEachVariableIndependentlyAndSpreadsOverTheInterval() {
    CartPole env = new CartPole(7);
    double min = Double.MAX_VALUE;
    double max = -Double.MAX_VALUE;
    for (int i = 0; i < 2000; i++) {
      env.reset();
      double[] s = env.state();
      // four separate draws, not one value copied four times
      assertThat(s[0]).isNotEqualTo(s[1]);
      for (double v : s) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
    // 8000 uniform draws in (-0.05, 0.05) come within 0.001 of both ends (miss chance ~ e^-80)
    assertThat(min).isLessThan(-0.049);
    assertThat(max).isGreaterThan(0.049);
  }

  @Test
  void differentSeedsGiveDifferentStarts() {
    CartPole a = new CartPole(1);
    CartPole b = new CartPole(2);
    a.reset();
    b.reset();
    assertThat(a.state()).isNotEqualTo(b.state());
  }

  @Test
  void observationIsTheFloat32CastOfTheDoubleState() {
    CartPole env = new CartPole(3);
    env.reset(new double[] {0.1, 1.0 / 3.0, -Math.PI / 50, 2.0 / 3.0});
    env.step(1);
    double[] s = env.state();
    float[] obs = env.observation();
    for (int i = 0; i < 4; i++) {
      assertThat(obs[i]).isEqualTo((float) s[i]);
    }
    // the state keeps precision the observation drops
    assertThat((double) obs[1]).isNotEqualTo(s[1]);
  }

  @Test
  void pushesMoveTheCartTheWayTheActionSays() {
    CartPole left = new CartPole(0);
    CartPole right = new CartPole(0);
    left.reset(new double[4]);
    right.reset(new double[4]);
    // first step: position moves with the old (zero) velocity; the velocity takes the push
    left.step(0);
    right.step(1);
    assertThat(left.state()[0]).isZero();
    assertThat(left.state()[1]).isNegative();
    assertThat(right.state()[1]).isPositive();
    // the reaction tips the pole the other way
    assertThat(left.state()[3]).isPositive();
    assertThat(right.state()[3]).isNegative();
  }

  @ParameterizedTest
  @ValueSource(ints = {-1, 2, 7, Integer.MIN_VALUE})
  void refusesAnActionOutsideZeroOneAndChangesNothing(int action) {
    CartPole env = new CartPole(5);
    env.reset(START);
    env.step(1);
    double[] before = env.state();
    int stepsBefore = env.elapsedSteps();

    assertThatThrownBy(() -> env.step(action))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got " + action)
        .hasMessageContaining("0")
        .hasMessageContaining("1");

    assertThat(env.state()).containsExactly(before);
    assertThat(env.elapsedSteps()).isEqualTo(stepsBefore);
    // the refused call left nothing behind: the next step is the one a twin takes
    CartPole twin = new CartPole(5);
    twin.reset(START);
    twin.step(1);
    assertThat(env.step(0)).usingRecursiveComparison().isEqualTo(twin.step(0));
  }

  @Test
  void refusesAStepAfterTerminationUntilReset() {
    CartPole env = new CartPole(9);
    env.reset(new double[] {0.0, 0.0, 0.2, 0.5});
    CartPole.Step last = runUntilTerminated(env, 0);
    assertThat(last.terminated()).isTrue();
    assertThat(last.reward()).isEqualTo(1.0);
    assertThat(last.truncated()).isFalse();
    double[] before = env.state();
    int steps = env.elapsedSteps();

    assertThatThrownBy(() -> env.step(1))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("terminated")
        .hasMessageContaining("reset()");

    assertThat(env.state()).containsExactly(before);
    assertThat(env.elapsedSteps()).isEqualTo(steps);
    assertThat(env.isTerminated()).isTrue();

    env.reset();
    assertThat(env.isTerminated()).isFalse();
    assertThat(env.elapsedSteps()).isZero();
    assertThat(env.step(1).reward()).isEqualTo(1.0);
  }

  @Test
  void refusesAStepOrObservationBeforeTheFirstReset() {
    CartPole env = new CartPole(11);
    assertThatThrownBy(() -> env.step(0))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("reset()");
    assertThatThrownBy(env::observation).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(env::state).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void terminatesBeyondThePositionAndAngleLimitsOnly() {
    CartPole env = new CartPole(0);
    // x advances by tau * x_dot = 0.02 * 1.0: 2.39 -> 2.41 crosses the limit
    env.reset(new double[] {2.39, 1.0, 0.0, 0.0});
    assertThat(env.step(1).terminated()).isTrue();
    env.reset(new double[] {-2.39, -1.0, 0.0, 0.0});
    assertThat(env.step(0).terminated()).isTrue();
    // theta advances by 0.02 * 0.1 = 0.002 past the 12-degree limit
    double limit = CartPole.THETA_THRESHOLD_RADIANS;
    env.reset(new double[] {0.0, 0.0, limit - 0.001, 0.1});
    assertThat(env.step(1).terminated()).isTrue();
    env.reset(new double[] {0.0, 0.0, -limit + 0.001, -0.1});
    assertThat(env.step(0).terminated()).isTrue();
    // just inside: 2.37 + 0.02 = 2.39
    env.reset(new double[] {2.37, 1.0, 0.0, 0.0});
    assertThat(env.step(1).terminated()).isFalse();
  }

  @Test
  void truncatesAtTheTimeLimitWithoutTerminating() {
    CartPole env = new CartPole(13, 20);
    env.reset(START);
    List<CartPole.Step> steps = new ArrayList<>();
    for (int t = 0; t < 25; t++) {
      double[] s = env.state();
      // keep the pole up: push toward where it is falling
      steps.add(env.step(s[2] + 0.5 * s[3] > 0 ? 1 : 0));
    }
    assertThat(steps).noneMatch(CartPole.Step::terminated);
    assertThat(steps.subList(0, 19)).noneMatch(CartPole.Step::truncated);
    assertThat(steps.subList(19, 25)).allMatch(CartPole.Step::truncated);
    env.reset();
    assertThat(env.step(0).truncated()).isFalse();
    assertThat(new CartPole(0).maxEpisodeSteps()).isEqualTo(500);
  }

  @Test
  void refusesABadStartStateAndKeepsTheCurrentOne() {
    CartPole env = new CartPole(17);
    env.reset(START);
    assertThatThrownBy(() -> env.reset(new double[] {1, 2, 3}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("4 values")
        .hasMessageContaining("got 3");
    assertThatThrownBy(() -> env.reset(new double[] {0, Double.NaN, 0, 0}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("finite")
        .hasMessageContaining("NaN");
    assertThatThrownBy(() -> env.reset((double[]) null)).isInstanceOf(IllegalArgumentException.class);
    assertThat(env.state()).containsExactly(START);
    assertThatThrownBy(() -> new CartPole(1, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got 0");
  }

  @Test
  void resetCopiesTheGivenState() {
    double[] given = START.clone();
    CartPole env = new CartPole(19);
    env.reset(given);
    given[0] = 99;
    assertThat(env.state()).containsExactly(START);
    env.state()[1] = 99;
    assertThat(env.state()).containsExactly(START);
  }

  private static CartPole.Step runUntilTerminated(CartPole env, int action) {
    for (int t = 0; t < 1000; t++) {
      CartPole.Step step = env.step(action);
      if (step.terminated()) {
        return step;
      }
    }
    throw new AssertionError("no termination in 1000 steps of action " + action);
  }
}
