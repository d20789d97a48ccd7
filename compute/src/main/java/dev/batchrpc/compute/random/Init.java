package dev.batchrpc.compute.random;

/**
 * PyTorch's default {@code nn.Linear} initialisation: the weight [out x in] and then the bias [out]
 * each uniform in [-1/sqrt(in), 1/sqrt(in)). (PyTorch's kaiming_uniform_ with a = sqrt(5) gives the
 * same bound for the weight.) The distribution matches PyTorch; the draws come from {@link Rng},
 * not from torch's generator.
 */
public final class Init {

  private Init() {
  }

  /** The bound 1/sqrt(fanIn) of the default init. */
  public static double linearBound(int fanIn) {
    if (fanIn <= 0) {
      throw new IllegalArgumentException("fan_in must be > 0, got " + fanIn);
    }
    return 1.0 / Math.sqrt(fanIn);
  }

  /**
   * Fills the weight {@code params[off .. off + out*in)} and then the bias
   * {@code params[off + out*in .. off + out*in + out)} of a Linear(in, out).
   */
  public static void linear(Rng rng, float[] params, int off, int in, int out) {
    double bound = linearBound(in);
    if (out <= 0) {
      throw new IllegalArgumentException("out_features must be > 0, got " + out);
    }
    long end = (long) off + (long) out * in + out;
    if (off < 0 || end > params.length) {
      throw new IllegalArgumentException("Linear(" + in + ", " + out + ") needs params [" + off
          + ", " + end + ") but the array has length " + params.length);
    }
    for (int i = off; i < end; i++) {
      float w = (float) ((2.0 * rng.nextDouble() - 1.0) * bound);
      // rounding to float may reach the bound itself; keep the open interval of the contract
      params[i] = Math.abs(w) >= bound ? Math.copySign(Math.nextDown((float) bound), w) : w;
    }
  }
}
