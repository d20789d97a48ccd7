package dev.batchrpc.compute.random;

/**
 * Sampling from a categorical distribution given its probabilities, by inverse CDF from a supplied
 * uniform, so that the host decides every random draw (the same draw gives the same action on the
 * CPU and on the GPU).
 *
 * <p>The probabilities are used as given (a softmax row sums to 1 up to rounding); they are not
 * renormalised. Stateless and thread-safe.
 */
public final class Categorical {

  private Categorical() {
  }

  /**
   * The smallest index i with {@code u < p[0] + ... + p[i]} (the sum in float32, left to right), or
   * the last index when rounding leaves {@code u} at or above the total.
   *
   * @param probs the array holding the row
   * @param off where the row starts
   * @param n the number of categories (> 0)
   * @param u a uniform draw in [0, 1)
   */
  public static int sample(float[] probs, int off, int n, float u) {
    if (n <= 0 || off < 0 || (long) off + n > probs.length) {
      throw new IllegalArgumentException("categories [" + off + ", " + ((long) off + n)
          + ") are not a non-empty range of an array of length " + probs.length);
    }
    float cumulative = 0f;
    for (int i = 0; i < n - 1; i++) {
      cumulative += probs[off + i];
      if (u < cumulative) {
        return i;
      }
    }
    return n - 1;
  }

  /** {@link #sample(float[], int, int, float)} over a whole array. */
  public static int sample(float[] probs, float u) {
    return sample(probs, 0, probs.length, u);
  }

  /**
   * {@code log(p[a])} as float32, as {@code Categorical(probs).log_prob(a)} for a normalised row.
   *
   * @throws IllegalArgumentException if {@code a} is not in [0, n)
   */
  public static float logProb(float[] probs, int off, int n, int a) {
    if (a < 0 || a >= n || off < 0 || (long) off + n > probs.length) {
      throw new IllegalArgumentException("action " + a + " is not one of the " + n
          + " categories at offset " + off + " of an array of length " + probs.length);
    }
    return (float) Math.log(probs[off + a]);
  }
}
