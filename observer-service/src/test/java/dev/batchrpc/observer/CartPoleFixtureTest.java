package dev.batchrpc.observer;

import static dev.batchrpc.observer.CartPoleFixtures.booleans;
import static dev.batchrpc.observer.CartPoleFixtures.doubles;
import static dev.batchrpc.observer.CartPoleFixtures.floats;
import static dev.batchrpc.observer.CartPoleFixtures.ints;
import static dev.batchrpc.observer.CartPoleFixtures.row4;
import static dev.batchrpc.observer.CartPoleFixtures.shape;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.batchrpc.compute.rl.EpisodeReturns;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CartPole against the float64 reference trajectories of {@code cartpole.json} (Gym's equations,
 * see {@code tools/fixtures/generate_fixtures.py}): states within 1e-12 relative (with a 1e-15
 * absolute floor for values at zero), observations equal as float32, rewards and flags equal.
 */
class CartPoleFixtureTest {

  private static final double REL_TOL = 1e-12;
  private static final double ABS_FLOOR = 1e-15;

  static Stream<Arguments> trajectories() {
    return CartPoleFixtures.trajectories().stream().map(c -> Arguments.of(c.get("name").asText(), c));
  }

  static Stream<Arguments> episodes() {
    return CartPoleFixtures.episodes().stream().map(c -> Arguments.of(c.get("name").asText(), c));
  }

  @Test
  void fixtureCoversTheCasesTheContractPromises() {
    assertThat(CartPoleFixtures.trajectories()).hasSizeGreaterThanOrEqualTo(8);
    // at least one trajectory runs into the time limit, the others terminate
    assertThat(CartPoleFixtures.trajectories())
        .anySatisfy(c -> assertThat(booleans(c, "truncated")).hasSize(500).endsWith(true));
    assertThat(CartPoleFixtures.episodes())
        .extracting(c -> c.get("gamma").asDouble()).contains(1.0, 0.99);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("trajectories")
  void trajectoryMatchesReference(String name, JsonNode c) {
    int[] actions = ints(c, "actions");
    double[] states = doubles(c, "states");
    float[] observations = floats(c, "observations");
    double[] rewards = doubles(c, "rewards");
    boolean[] terminated = booleans(c, "terminated");
    boolean[] truncated = booleans(c, "truncated");
    assertThat(shape(c, "states")).containsExactly(actions.length, 4);

    CartPole env = new CartPole(0);
    float[] first = env.reset(doubles(c, "start_state"));
    assertThat(first).containsExactly(toFloats(doubles(c, "start_state")));

    for (int t = 0; t < actions.length; t++) {
      CartPole.Step step = env.step(actions[t]);
      String at = name + " step " + t;
      assertClose(env.state(), row4(states, t), at);
      assertThat(step.observation()).as(at).containsExactly(Arrays.copyOfRange(observations, 4 * t, 4 * t + 4));
      assertThat(env.observation()).as(at).containsExactly(step.observation());
      assertThat(step.reward()).as(at).isEqualTo(rewards[t]);
      assertThat(step.terminated()).as(at).isEqualTo(terminated[t]);
      assertThat(step.truncated()).as(at).isEqualTo(truncated[t]);
    }
  }

  /**
   * The tutorial's episode loop over the reference: step the given actions, reset from the next
   * given state on each termination, then the bookkeeping gives the reference returns. The
   * returns are compared exactly: EpisodeReturns does the same float32 operations in the same
   * order as PyTorch's loop over the float32 reward tensor.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("episodes")
  void episodeReturnsMatchTheTutorial(String name, JsonNode c) {
    int nSteps = c.get("n_steps").asInt();
    int[] actions = ints(c, "actions");
    double[] resets = doubles(c, "reset_states");
    int resetCount = shape(c, "reset_states")[0];
    assertThat(actions).hasSize(nSteps);

    CartPole env = new CartPole(0);
    env.reset(doubles(c, "start_state"));
    float[] rewards = new float[nSteps];
    boolean[] terminated = new boolean[nSteps];
    int used = 0;
    for (int t = 0; t < nSteps; t++) {
      CartPole.Step step = env.step(actions[t]);
      rewards[t] = (float) step.reward();
      terminated[t] = step.terminated();
      if (step.terminated() && t + 1 < nSteps) {
        env.reset(row4(resets, used++));
      }
    }
    assertThat(used).as("resets consumed").isEqualTo(resetCount);
    assertClose(env.state(), doubles(c, "final_state"), name + " final state");
    assertThat(terminated).isEqualTo(booleans(c, "terminated"));
    assertThat(rewards).containsExactly(floats(c, "rewards"));

    EpisodeReturns result = EpisodeReturns.compute(rewards, terminated, c.get("gamma").asDouble());
    assertThat(result.returns()).containsExactly(floats(c, "returns"));
    assertThat(result.firstEpisodeReward()).isEqualTo(c.get("first_episode_reward").asInt());
  }

  private static void assertClose(double[] actual, double[] expected, String at) {
    for (int i = 0; i < 4; i++) {
      double tol = Math.max(REL_TOL * Math.abs(expected[i]), ABS_FLOOR);
      assertThat(Math.abs(actual[i] - expected[i]))
          .as("%s, state[%d]: %s vs reference %s", at, i, actual[i], expected[i])
          .isLessThanOrEqualTo(tol);
    }
  }

  private static float[] toFloats(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }
}
