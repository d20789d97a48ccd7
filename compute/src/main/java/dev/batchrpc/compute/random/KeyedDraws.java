package dev.batchrpc.compute.random;

/**
 * The agent's random draws as a pure function of (seed, step, observer), from {@link Philox}: the
 * dropout scales of one observer's row and the uniform that samples its action. Any device can
 * generate any row where it is used (the CUDA kernel {@code policy_act_keyed} does, bit for bit),
 * and the agent can regenerate an episode's masks for the backward pass instead of keeping them.
 *
 * <h2>Layout (the contract the CUDA kernel reproduces)</h2>
 * All words are uint32 (Java {@code int} bits). For a draw of {@code (seed, step, observer)}:
 * <pre>
 *   key     = (k0, k1) = (seed &amp; 0xFFFFFFFF, seed &gt;&gt;&gt; 32)
 *   counter = (c0, c1, c2, c3) = (step &amp; 0xFFFFFFFF, step &gt;&gt;&gt; 32, observer, block)
 * </pre>
 * ({@code observer} is taken as its 32 bits, so any {@code int} id works.)
 *
 * <p>Dropout, hidden unit {@code j} of the row: write {@code j = 128 g + 32 w + l} with
 * {@code 0 <= l < 32} and {@code 0 <= w < 4}; the unit uses output word {@code w} of
 * {@code block = 32 g + l}. So one Philox call yields units l, l+32, l+64, l+96 of a group of 128:
 * exactly the units lane l of a warp owns in the kernel (one call per lane per 128 units, no
 * shuffles). See {@link #counterBlock(int)} and {@link #counterWord(int)}.
 *
 * <p>Sampling: word 0 of {@code block = 0xFFFFFFFF} ({@link #SAMPLE_BLOCK}). Dropout blocks never
 * reach it (an {@code int} hidden size gives blocks below 2^29).
 *
 * <p>From a word {@code x} to a uniform: its top 24 bits, {@code u = (x >>> 8) * 2^-24}, exact in
 * float32, in {@code [0, 1 - 2^-24]} (the convention of {@link Rng#nextFloat()}).
 *
 * <p>Dropout with probability p: {@code keep = (float) (1 - p)}, computed in double with p read as
 * its shortest decimal ({@code 0.6f} is 0.6, so keep is {@code 0.4f}, as {@link Rng#dropoutScales}
 * with the double 0.6); the unit is kept iff {@code u < keep} (a float32 comparison, exact on any
 * device), with value {@code 1f / keep} (float32 division, 2.5f for p = 0.6), else 0. With p = 1
 * nothing is kept (keep = 0); with p = 0 everything is kept with value 1. So a unit is kept with
 * probability {@code ceil(keep * 2^24) / 2^24}, i.e. 1 - p to within 2^-24.
 *
 * <p>Independence: distinct (seed, step, observer, block) give distinct counters or keys, so no
 * two draws share a Philox output (Philox is a bijection of the counter for each key). The same
 * triple always gives the same draws: reusing a step for another round reuses its masks.
 *
 * <p>Thread-safe (no state).
 */
public final class KeyedDraws {

  /** The counter block whose word 0 is the sampling uniform. */
  public static final int SAMPLE_BLOCK = 0xFFFFFFFF;

  /** keepThreshold and keptValue of one p, computed once (the decimal round trip is slow). */
  private record Threshold(float p, float keep, float scale) {
  }

  /**
   * The last p's threshold: an immutable record published through a volatile field, so threads
   * that race on it at worst recompute it.
   */
  private static volatile Threshold last = new Threshold(0.6f, 0.4f, 2.5f);

  private KeyedDraws() {
  }

  private static Threshold threshold(float p) {
    Threshold t = last;
    if (Float.floatToRawIntBits(t.p) == Float.floatToRawIntBits(p)) {
      return t;
    }
    checkProbability(p);
    float keep = (float) (1.0 - Double.parseDouble(Float.toString(p)));
    t = new Threshold(p, keep, keep == 0f ? 0f : 1f / keep);
    last = t;
    return t;
  }

  /** The counter block of hidden unit {@code j}: {@code 32 * (j / 128) + j % 32}. */
  public static int counterBlock(int j) {
    return 32 * (j >>> 7) + (j & 31);
  }

  /** The output word (0..3) of hidden unit {@code j}: {@code (j / 32) % 4}. */
  public static int counterWord(int j) {
    return (j >>> 5) & 3;
  }

  /** The uniform of a Philox word: its top 24 bits times 2^-24, exactly, in [0, 1). */
  public static float toUniform(int word) {
    return (word >>> 8) * 0x1.0p-24f;
  }

  /**
   * The keep threshold for dropout probability {@code p}: {@code (float) (1 - p)} with p read as
   * its shortest decimal representation.
   *
   * @throws IllegalArgumentException if p is not in [0, 1]
   */
  public static float keepThreshold(float p) {
    return threshold(p).keep;
  }

  /**
   * The value of a kept unit: {@code 1f / keepThreshold(p)}, or 0 when p = 1 (nothing is kept).
   *
   * @throws IllegalArgumentException if p is not in [0, 1]
   */
  public static float keptValue(float p) {
    return threshold(p).scale;
  }

  /** Throws {@link IllegalArgumentException} unless {@code 0 <= p <= 1}. */
  public static void checkProbability(float p) {
    if (!(p >= 0f && p <= 1f)) {
      throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
    }
  }

  /**
   * The dropout scales of {@code observer}'s row at {@code step}: writes {@code out[off + j]} for
   * {@code 0 <= j < hidden}, each 0 (dropped) or {@link #keptValue(float)} (kept), as laid out in
   * the class comment.
   *
   * @throws IllegalArgumentException if p is not in [0, 1], hidden is negative or the range is
   *     outside {@code out}
   */
  public static void dropoutScales(long seed, long step, int observer, float p, float[] out,
                                   int off, int hidden) {
    Threshold t = threshold(p);
    float keep = t.keep;
    float scale = t.scale;
    if (hidden < 0 || off < 0 || (long) off + hidden > out.length) {
      throw new IllegalArgumentException("range [" + off + ", " + ((long) off + hidden)
          + ") is outside an array of length " + out.length);
    }
    int k0 = (int) seed;
    int k1 = (int) (seed >>> 32);
    int c0 = (int) step;
    int c1 = (int) (step >>> 32);
    int[] words = new int[4];
    // j = 128 g + 32 w + l: block 32 g + l, word w
    for (int g = 0; 128L * g < hidden; g++) {
      for (int l = 0; l < 32; l++) {
        int j0 = 128 * g + l;
        if (j0 >= hidden) {
          break;
        }
        Philox.apply(c0, c1, observer, 32 * g + l, k0, k1, words, 0);
        for (int w = 0; w < 4; w++) {
          int j = j0 + 32 * w;
          if (j >= hidden) {
            break;
          }
          out[off + j] = toUniform(words[w]) < keep ? scale : 0f;
        }
      }
    }
  }

  /**
   * The uniform in [0, 1) that samples {@code observer}'s action at {@code step}: word 0 of the
   * counter {@code (step lo, step hi, observer, SAMPLE_BLOCK)}, as {@link #toUniform(int)}.
   */
  public static float uniform(long seed, long step, int observer) {
    int[] words = new int[4];
    Philox.apply((int) step, (int) (step >>> 32), observer, SAMPLE_BLOCK, (int) seed,
        (int) (seed >>> 32), words, 0);
    return toUniform(words[0]);
  }
}
