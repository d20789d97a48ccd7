package dev.batchrpc.compute.random;

/**
 * Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011; the Random123 library): a counter-based generator, i.e. a keyed bijection of a 128-bit
 * counter. There is no state: the output is a pure function of (counter, key), so any element of a
 * stream can be computed on its own, in any order, on any device (the CUDA kernel
 * {@code policy_act_keyed} in {@code kernels.cu} has the same function, bit for bit).
 *
 * <p>All words are uint32, held in Java {@code int}s (two's complement, so the bits are the same).
 * One round, with {@code mulhilo(a, b)} the high and low 32 bits of the 64-bit product a * b:
 * <pre>
 *   (hi0, lo0) = mulhilo(0xD2511F53, c0)
 *   (hi1, lo1) = mulhilo(0xCD9E8D57, c2)
 *   (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 * </pre>
 * Ten rounds; before every round but the first the key is bumped by the Weyl constants:
 * {@code k0 += 0x9E3779B9, k1 += 0xBB67AE85} (mod 2^32). The output is the final (c0, c1, c2, c3).
 *
 * <p>Known answers (Random123 {@code kat_vectors}; checked by {@code PhiloxTest}):
 * <pre>
 *   ctr 00000000 00000000 00000000 00000000  key 00000000 00000000
 *     -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8
 *   ctr ffffffff ffffffff ffffffff ffffffff  key ffffffff ffffffff
 *     -> 408f276d 41c83b0e a20bc7c6 6d5451fd
 *   ctr 243f6a88 85a308d3 13198a2e 03707344  key a4093822 299f31d0
 *     -> d16cfe09 94fdcceb 5001e420 24126ea1
 * </pre>
 *
 * <p>Thread-safe (no state).
 */
public final class Philox {

  /** Round multiplier of word 0. */
  public static final int M0 = 0xD2511F53;
  /** Round multiplier of word 2. */
  public static final int M1 = 0xCD9E8D57;
  /** Key schedule increment of key word 0 (golden ratio). */
  public static final int W0 = 0x9E3779B9;
  /** Key schedule increment of key word 1 (sqrt(3) - 1). */
  public static final int W1 = 0xBB67AE85;
  /** Number of rounds. */
  public static final int ROUNDS = 10;

  private static final long MASK = 0xFFFFFFFFL;

  private Philox() {
  }

  /**
   * Philox4x32-10 of {@code counter} (4 words) under {@code key} (2 words).
   *
   * @return a new array of the 4 output words
   * @throws IllegalArgumentException if counter does not have 4 words or key 2
   */
  public static int[] apply(int[] counter, int[] key) {
    if (counter.length != 4 || key.length != 2) {
      throw new IllegalArgumentException("Philox4x32 needs a 4-word counter and a 2-word key, got "
          + counter.length + " and " + key.length);
    }
    int[] out = new int[4];
    apply(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out, 0);
    return out;
  }

  /**
   * Philox4x32-10 of the counter {@code (c0, c1, c2, c3)} under the key {@code (k0, k1)}, written
   * to {@code out[off..off+4)} (no allocation).
   */
  public static void apply(int c0, int c1, int c2, int c3, int k0, int k1, int[] out, int off) {
    for (int r = 0; r < ROUNDS; r++) {
      if (r > 0) {
        k0 += W0;
        k1 += W1;
      }
      // Unsigned 32 x 32 -> 64-bit products; the long may wrap past 2^63 but its bits are right.
      long p0 = (M0 & MASK) * (c0 & MASK);
      long p1 = (M1 & MASK) * (c2 & MASK);
      int n0 = (int) (p1 >>> 32) ^ c1 ^ k0;
      int n2 = (int) (p0 >>> 32) ^ c3 ^ k1;
      c1 = (int) p1;
      c3 = (int) p0;
      c0 = n0;
      c2 = n2;
    }
    out[off] = c0;
    out[off + 1] = c1;
    out[off + 2] = c2;
    out[off + 3] = c3;
  }
}
