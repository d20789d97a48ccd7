package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.nn.PolicyNet;
import dev.batchrpc.compute.optim.Adam;
import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.compute.rl.EpisodeReturns;
import org.junit.jupiter.api.Test;

class PolicyAgentTest {

  private static final long SEED = 3;
  private static final int N = 3;
  private static final int T = 40;

  @Test
  void updateEqualsADirectReinforceAndAdamStepOnTheRecordedData() {
    CpuBackend cpu = new CpuBackend();
    Rng data = new Rng(99);
    float[][][] states = new float[T][N][4];
    float[][] rewards = new float[N][T];
    boolean[][] done = new boolean[N][T];
    for (int t = 0; t < T; t++) {
      for (int i = 0; i < N; i++) {
        for (int k = 0; k < 4; k++) {
          states[t][i][k] = data.nextFloat() - 0.5f;
        }
        rewards[i][t] = 1f;
        done[i][t] = data.nextFloat() < 0.1f;
      }
    }
    float[] first = new float[N];
    for (int i = 0; i < N; i++) {
      first[i] = EpisodeReturns.compute(rewards[i], done[i], 0.9).firstEpisodeReward();
    }
    try (PolicyAgent agent = new PolicyAgent(cpu, N, SEED, 0.01f)) {
      float[] initial = agent.parameters();
      agent.beginEpisode(T);
      for (int t = 0; t < T; t++) {
        // Rows in a scrambled order: the record is by (step, observer) whatever the order.
        agent.act(t, new int[] {2, 0, 1}, new float[][] {states[t][2], states[t][0], states[t][1]});
      }
      float[] recStates = agent.recordedStates();
      float[] recScales = agent.recordedScales();
      int[] recActions = agent.recordedActions();
      assertThatThrownBy(() -> agent.act(0, new int[] {1}, new float[][] {states[0][1]}))
          .hasMessageContaining("already acted");
      PolicyAgent.EpisodeUpdate u = agent.finishEpisode(rewards, done, first, 0.9);

      // Direct: the same rows (row = t*N + i), the scales each observer's stream gives, returns.
      for (int i = 0; i < N; i++) {
        Rng rng = new Rng(PolicyAgent.derive(SEED, 1, i));
        float[] expectScales = new float[T * 128];
        for (int t = 0; t < T; t++) {
          rng.dropoutScales(expectScales, t * 128, 128, PolicyNet.DROPOUT);
          rng.nextFloat();
          for (int h = 0; h < 128; h++) {
            assertThat(recScales[(t * N + i) * 128 + h]).isEqualTo(expectScales[t * 128 + h]);
          }
          for (int k = 0; k < 4; k++) {
            assertThat(recStates[(t * N + i) * 4 + k]).isEqualTo(states[t][i][k]);
          }
        }
      }
      float[] returns = new float[T * N];
      double sum = 0;
      for (int i = 0; i < N; i++) {
        float[] r = EpisodeReturns.compute(rewards[i], done[i], 0.9).returns();
        for (int t = 0; t < T; t++) {
          returns[t * N + i] = r[t];
        }
        sum += first[i];
      }
      try (PolicyNet net = new PolicyNet(cpu, initial)) {
        Adam adam = new Adam(cpu, net.params(), net.grad(), 0.01f);
        float loss = net.reinforce(Tensor.of(recStates, T * N, 4), Tensor.of(recScales, T * N, 128), recActions,
            returns, N);
        adam.step();
        assertThat(u.loss()).isEqualTo(loss);
        assertThat(agent.parameters()).containsExactly(net.paramsCopy());
        adam.close();
      }
      assertThat(u.episodeReward()).isEqualTo(sum / N);
      assertThat(u.runningReward()).isEqualTo(0.5 * (sum / N));
    }
  }

  @Test
  void anIncompleteEpisodeIsRefusedAndChangesNothing() {
    try (PolicyAgent agent = new PolicyAgent(new CpuBackend(), 2, SEED, 0.01f)) {
      float[] before = agent.parameters();
      agent.beginEpisode(2);
      agent.act(0, new int[] {0, 1}, new float[][] {{0, 0, 0, 0}, {0, 0, 0, 0}});
      assertThatThrownBy(() -> agent.finishEpisode(new float[][] {{1, 1}, {1, 1}},
          new boolean[][] {{false, false}, {false, false}}, new float[] {2, 2}, 1.0))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("did not act at step 1");
      assertThat(agent.parameters()).containsExactly(before);
      assertThatThrownBy(() -> agent.beginEpisode(0)).hasMessageContaining("n_steps must be > 0");
    }
  }

  @Test
  void anEpisodeFinishedWithoutALostObserverIsTheUpdateOfTheOthersAlone() {
    // Observer 1 is lost after step 0: the two-observer agent's update over observer 0 alone must
    // be a one-observer agent's update over the same steps (same seed: same streams for observer 0).
    int steps = 3;
    float[][] s0 = {{0.01f, 0.02f, -0.03f, 0.04f}, {0.02f, -0.1f, 0.05f, 0.2f}, {-0.03f, 0.3f, 0.02f, -0.1f}};
    float[][] rewards = {{1, 1, 1}, null};
    boolean[][] done = {{false, false, true}, null};
    try (PolicyAgent two = new PolicyAgent(new CpuBackend(), 2, SEED, 0.01f);
         PolicyAgent one = new PolicyAgent(new CpuBackend(), 1, SEED, 0.01f)) {
      two.beginEpisode(steps);
      one.beginEpisode(steps);
      two.act(0, new int[] {0, 1}, new float[][] {s0[0], {0.5f, 0.5f, 0.5f, 0.5f}});
      one.act(0, new int[] {0}, new float[][] {s0[0]});
      for (int t = 1; t < steps; t++) {
        two.act(t, new int[] {0}, new float[][] {s0[t]});
        one.act(t, new int[] {0}, new float[][] {s0[t]});
      }
      assertThatThrownBy(() -> two.finishEpisode(rewards, done, new float[] {3, 0}, 1.0,
          new boolean[] {true, true})).as("observer 1 did not finish").isInstanceOf(RuntimeException.class);
      PolicyAgent.EpisodeUpdate u2 = two.finishEpisode(rewards, done, new float[] {3, 0}, 1.0,
          new boolean[] {true, false});
      PolicyAgent.EpisodeUpdate u1 = one.finishEpisode(new float[][] {rewards[0]}, new boolean[][] {done[0]},
          new float[] {3}, 1.0);
      assertThat(u2.loss()).isEqualTo(u1.loss());
      assertThat(u2.episodeReward()).isEqualTo(3.0);
      assertThat(two.parameters()).containsExactly(one.parameters());
    }
  }
}
