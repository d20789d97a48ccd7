package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;

/** {@code max(x, 0)}; backward passes the gradient where the output is positive (as torch). */
public final class ReLU implements Layer {

  private Tensor lastOutput;

  @Override
  public Tensor forward(Tensor x) {
    Tensor y = Tensor.zeros(x.shape());
    float[] xd = x.data();
    float[] yd = y.data();
    for (int i = 0; i < xd.length; i++) {
      yd[i] = of(xd[i]);
    }
    lastOutput = y;
    return y;
  }

  @Override
  public Tensor backward(Tensor gradY) {
    Tensor y = lastOutput;
    if (y == null) {
      throw new IllegalStateException("ReLU: backward before forward");
    }
    Tensor.requireSameShape("ReLU grad_y", gradY, "output", y);
    Tensor gradX = Tensor.zeros(y.shape());
    float[] gy = gradY.data();
    float[] yd = y.data();
    float[] gx = gradX.data();
    for (int i = 0; i < gx.length; i++) {
      gx[i] = Float.intBitsToFloat(Float.floatToRawIntBits(gy[i]) & positiveMask(Float.floatToRawIntBits(yd[i])));
    }
    return gradX;
  }

  /** {@code x > 0f ? x : 0f} without a branch (as {@link #forward}: NaN and -0 give +0). */
  public static float of(float x) {
    int b = Float.floatToRawIntBits(x);
    return Float.intBitsToFloat(b & positiveMask(b));
  }

  /**
   * All ones if the float with bits {@code b} is {@code > 0f} (a positive finite number or +inf),
   * else 0: the same test as {@code x > 0f}, NaN and -0 included, without a branch. Half the
   * activations are negative in no predictable order, so the branch mispredicted constantly;
   * integer masks also let the loops vectorize. Positive floats are exactly the bit patterns
   * 1..0x7f800000, i.e. {@code b - 1} in [0, 0x7f7fffff].
   */
  private static int positiveMask(int b) {
    int m = b - 1;
    return ~(m >> 31) & ((m - 0x7f800000) >> 31);
  }

  @Override
  public String toString() {
    return "ReLU()";
  }
}
