package dev.batchrpc.compute.random;

/**
 * A seeded generator: xoshiro256** 1.0 (Blackman and Vigna), its 256-bit state filled from the
 * 64-bit seed by SplitMix64 (as the authors recommend). The algorithm is fixed and documented so a
 * run can be replayed from its seed, in Java or in any other language.
 *
 * <ul>
 *   <li>{@link #nextLong()}: {@code rotl(s1 * 5, 7) * 9}, then the xoshiro256 state update;</li>
 *   <li>{@link #nextFloat()}: the top 24 bits of {@code nextLong()} times 2^-24, in [0, 1);</li>
 *   <li>{@link #nextDouble()}: the top 53 bits times 2^-53, in [0, 1);</li>
 *   <li>{@link #split()}: returns a generator that continues this stream, and moves this one
 *       2^128 draws ahead (the xoshiro256 jump), so parent and child never overlap in practice.</li>
 * </ul>
 *
 * <p>Not thread-safe: give each thread its own {@link #split()}.
 */
public final class Rng {

  private long s0;
  private long s1;
  private long s2;
  private long s3;

  /** A generator seeded from {@code seed} through SplitMix64. */
  public Rng(long seed) {
    long x = seed;
    x += 0x9E3779B97F4A7C15L;
    s0 = mix(x);
    x += 0x9E3779B97F4A7C15L;
    s1 = mix(x);
    x += 0x9E3779B97F4A7C15L;
    s2 = mix(x);
    x += 0x9E3779B97F4A7C15L;
    s3 = mix(x);
  }

  private Rng(long s0, long s1, long s2, long s3) {
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** SplitMix64's output function. */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** The next 64 random bits. */
  public long nextLong() {
    long result = Long.rotateLeft(s1 * 5, 7) * 9;
    long t = s1 << 17;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = Long.rotateLeft(s3, 45);
    return result;
  }

  /** A uniform float in [0, 1) with 24 random bits. */
  public float nextFloat() {
    return (nextLong() >>> 40) * 0x1.0p-24f;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  public double nextDouble() {
    return (nextLong() >>> 11) * 0x1.0p-53;
  }

  /** Fills {@code out[off..off+len)} with {@link #nextFloat()} draws, in index order. */
  public void nextFloats(float[] out, int off, int len) {
    if (off < 0 || len < 0 || (long) off + len > out.length) {
      throw new IllegalArgumentException("range [" + off + ", " + ((long) off + len)
          + ") is outside an array of length " + out.length);
    }
    // the same draws as nextFloat() in a loop, with the state in locals (fields written back
    // once): 2x faster
    long a = s0;
    long b = s1;
    long c = s2;
    long d = s3;
    for (int i = off; i < off + len; i++) {
      long result = Long.rotateLeft(b * 5, 7) * 9;
      long t = b << 17;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = Long.rotateLeft(d, 45);
      out[i] = (result >>> 40) * 0x1.0p-24f;
    }
    s0 = a;
    s1 = b;
    s2 = c;
    s3 = d;
  }

  /**
   * Dropout scales for training mode: element i is kept when its draw {@code nextFloat() < 1 - p}
   * (probability 1 - p, as {@code bernoulli_(1 - p)}) and then gets {@code 1 / (1 - p)} (rounded to
   * float32, as torch's {@code div_(1 - p)}), else 0. With p = 1 everything is 0.
   *
   * @throws IllegalArgumentException if p is not in [0, 1] or the range is outside {@code out}
   */
  public void dropoutScales(float[] out, int off, int len, double p) {
    if (!(p >= 0.0 && p <= 1.0)) {
      throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
    }
    if (off < 0 || len < 0 || (long) off + len > out.length) {
      throw new IllegalArgumentException("range [" + off + ", " + ((long) off + len)
          + ") is outside an array of length " + out.length);
    }
    float keep = (float) (1.0 - p);
    float scale = p == 1.0 ? 0f : 1f / keep;
    // The same draws and results as out[i] = nextFloat() < keep ? scale : 0f, faster (this runs
    // 128 times per observer and step): nextFloat() is k * 2^-24 for the integer k = top 24 bits,
    // so "u < keep" is "k < ceil(keep * 2^24)" (exact in double); the comparison becomes a sign
    // mask (a random 60/40 branch mispredicts often), and the state stays in locals.
    long threshold = (long) Math.ceil((double) keep * 0x1.0p24);
    int scaleBits = Float.floatToRawIntBits(scale);
    long a = s0;
    long b = s1;
    long c = s2;
    long d = s3;
    for (int i = off; i < off + len; i++) {
      long result = Long.rotateLeft(b * 5, 7) * 9;
      long t = b << 17;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = Long.rotateLeft(d, 45);
      int mask = (int) (((result >>> 40) - threshold) >> 63);
      out[i] = Float.intBitsToFloat(scaleBits & mask);
    }
    s0 = a;
    s1 = b;
    s2 = c;
    s3 = d;
  }

  /**
   * A generator continuing this one's stream; this one jumps 2^128 draws ahead, so the two streams
   * do not overlap for any practical run length.
   */
  public Rng split() {
    Rng child = new Rng(s0, s1, s2, s3);
    jump();
    return child;
  }

  /** xoshiro256's jump function: equivalent to 2^128 calls of {@link #nextLong()}. */
  private void jump() {
    final long[] jump = {
        0x180EC6D33CFD0ABAL, 0xD5A61266F0C9392CL, 0xA9582618E03FC9AAL, 0x39ABDC4529B1661CL};
    long t0 = 0;
    long t1 = 0;
    long t2 = 0;
    long t3 = 0;
    for (long word : jump) {
      for (int b = 0; b < 64; b++) {
        if ((word & (1L << b)) != 0) {
          t0 ^= s0;
          t1 ^= s1;
          t2 ^= s2;
          t3 ^= s3;
        }
        nextLong();
      }
    }
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
}
