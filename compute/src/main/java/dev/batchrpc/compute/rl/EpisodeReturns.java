package dev.batchrpc.compute.rl;

import java.util.Arrays;

/**
 * The seed tutorial's per-episode bookkeeping ({@code Observer.run_episode}), as a pure function of
 * the reward and termination sequence of one fixed-length episode.
 *
 * <p>An episode runs exactly {@code n} steps; whenever the environment terminates it is reset and
 * the episode goes on. The steps therefore split into sub-episodes, each ending at a terminating
 * step or at the last step {@code n - 1}. Inside each sub-episode the return is the discounted
 * reward-to-go, computed backwards from its last step:
 * <pre>
 *   R = 0;  for i = end .. start:  R = rewards[i] + gamma * R;  returns[i] = R
 * </pre>
 * in float32, as the tutorial does on a float32 tensor (gamma rounded to float32, one rounding for
 * the product and one for the sum), so the values match PyTorch's to the bit. The episode's reward
 * is the length of the first sub-episode, capped at {@code n} (it is {@code n} when the
 * environment never terminates).
 *
 * @param returns the reward-to-go of each step (length {@code n})
 * @param firstEpisodeReward the length of the first sub-episode, at most {@code n}
 */
public record EpisodeReturns(float[] returns, int firstEpisodeReward) {

  /**
   * Computes the returns of one episode.
   *
   * @param rewards the reward of each step (length {@code n} &gt; 0)
   * @param terminated whether each step terminated the environment (length {@code n})
   * @param gamma the discount, in [0, 1]
   * @throws IllegalArgumentException on empty or mismatched sequences or a gamma outside [0, 1]
   */
  public static EpisodeReturns compute(float[] rewards, boolean[] terminated, double gamma) {
    if (rewards == null || terminated == null) {
      throw new IllegalArgumentException("rewards and terminated must not be null");
    }
    if (rewards.length == 0 || rewards.length != terminated.length) {
      throw new IllegalArgumentException("rewards and terminated must have the same, positive length, got "
          + rewards.length + " rewards and " + terminated.length + " termination flags");
    }
    if (!(gamma >= 0.0 && gamma <= 1.0)) {
      throw new IllegalArgumentException("gamma must be in [0, 1], got " + gamma);
    }
    int n = rewards.length;
    float g = (float) gamma;
    float[] returns = new float[n];
    int firstEpisodeReward = n;
    int start = 0;
    for (int step = 0; step < n; step++) {
      if (!terminated[step] && step + 1 < n) {
        continue;
      }
      // step closes the sub-episode [start, step]
      float r = 0f;
      for (int i = step; i >= start; i--) {
        r = rewards[i] + g * r;
        returns[i] = r;
      }
      if (start == 0) {
        firstEpisodeReward = Math.min(n, step + 1);
      }
      start = step + 1;
    }
    return new EpisodeReturns(returns, firstEpisodeReward);
  }

  /**
   * {@link #compute} for an episode whose every step has reward 1.0, as CartPole's do.
   *
   * @throws IllegalArgumentException on an empty sequence or a gamma outside [0, 1]
   */
  public static EpisodeReturns ofTerminations(boolean[] terminated, double gamma) {
    if (terminated == null) {
      throw new IllegalArgumentException("terminated must not be null");
    }
    float[] ones = new float[terminated.length];
    Arrays.fill(ones, 1f);
    return compute(ones, terminated, gamma);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof EpisodeReturns other
        && firstEpisodeReward == other.firstEpisodeReward
        && Arrays.equals(returns, other.returns);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(returns) + firstEpisodeReward;
  }

  @Override
  public String toString() {
    return "EpisodeReturns[returns=" + Arrays.toString(returns)
        + ", firstEpisodeReward=" + firstEpisodeReward + "]";
  }
}
