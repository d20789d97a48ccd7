package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;

/**
 * Row-wise softmax ({@code dim=1} of a [rows x cols] tensor), numerically stable:
 * {@code y = exp(x - max) * (1 / sum exp(x - max))} (torch's CPU kernel also multiplies by the
 * reciprocal of the sum). Backward (vector-Jacobian product):
 * {@code grad_x = y * (grad_y - sum_j grad_y[j] * y[j])}.
 */
public final class Softmax implements Layer {

  private Tensor lastOutput;

  /**
   * Softmax of each of {@code rows} rows of {@code cols} values, from {@code src[srcOff..]} into
   * {@code dst[dstOff..]}; {@code dst} may be {@code src} at the same offset (in place).
   */
  public static void forwardRows(float[] src, int srcOff, float[] dst, int dstOff, int rows,
                                 int cols) {
    for (int r = 0; r < rows; r++) {
      int s = srcOff + r * cols;
      int d = dstOff + r * cols;
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < cols; j++) {
        max = Math.max(max, src[s + j]);
      }
      float sum = 0f;
      for (int j = 0; j < cols; j++) {
        float e = (float) Math.exp(src[s + j] - max);
        dst[d + j] = e;
        sum += e;
      }
      float inv = 1f / sum;
      for (int j = 0; j < cols; j++) {
        dst[d + j] *= inv;
      }
    }
  }

  /** The softmax of each row of a rank-2 tensor. */
  public static Tensor softmax(Tensor x) {
    requireRank2("softmax input", x);
    Tensor y = Tensor.zeros(x.shape());
    forwardRows(x.data(), 0, y.data(), 0, x.dim(0), x.dim(1));
    return y;
  }

  /** The vector-Jacobian product of softmax at output {@code y} with {@code gradY}. */
  public static Tensor softmaxBackward(Tensor y, Tensor gradY) {
    requireRank2("softmax output", y);
    Tensor.requireSameShape("softmax grad_y", gradY, "output", y);
    int rows = y.dim(0);
    int cols = y.dim(1);
    Tensor gradX = Tensor.zeros(rows, cols);
    float[] yd = y.data();
    float[] gy = gradY.data();
    float[] gx = gradX.data();
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      float dot = 0f;
      for (int j = 0; j < cols; j++) {
        dot += gy[o + j] * yd[o + j];
      }
      for (int j = 0; j < cols; j++) {
        gx[o + j] = yd[o + j] * (gy[o + j] - dot);
      }
    }
    return gradX;
  }

  /**
   * Row-wise log-softmax, numerically stable: {@code x - max - log(sum exp(x - max))}.
   */
  public static Tensor logSoftmax(Tensor x) {
    requireRank2("log_softmax input", x);
    int rows = x.dim(0);
    int cols = x.dim(1);
    Tensor y = Tensor.zeros(rows, cols);
    float[] xd = x.data();
    float[] yd = y.data();
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < cols; j++) {
        max = Math.max(max, xd[o + j]);
      }
      float sum = 0f;
      for (int j = 0; j < cols; j++) {
        sum += (float) Math.exp(xd[o + j] - max);
      }
      float logSum = (float) Math.log(sum);
      for (int j = 0; j < cols; j++) {
        yd[o + j] = xd[o + j] - max - logSum;
      }
    }
    return y;
  }

  /**
   * The vector-Jacobian product of log-softmax at output {@code y}:
   * {@code grad_x = grad_y - exp(y) * sum_j grad_y[j]}.
   */
  public static Tensor logSoftmaxBackward(Tensor y, Tensor gradY) {
    requireRank2("log_softmax output", y);
    Tensor.requireSameShape("log_softmax grad_y", gradY, "output", y);
    int rows = y.dim(0);
    int cols = y.dim(1);
    Tensor gradX = Tensor.zeros(rows, cols);
    float[] yd = y.data();
    float[] gy = gradY.data();
    float[] gx = gradX.data();
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      float sum = 0f;
      for (int j = 0; j < cols; j++) {
        sum += gy[o + j];
      }
      for (int j = 0; j < cols; j++) {
        gx[o + j] = gy[o + j] - (float) Math.exp(yd[o + j]) * sum;
      }
    }
    return gradX;
  }

  private static void requireRank2(String what, Tensor t) {
    if (t.rank() != 2) {
      throw new IllegalArgumentException(what + " has shape " + t.shapeString()
          + " but [rows, cols] is required");
    }
  }

  @Override
  public Tensor forward(Tensor x) {
    lastOutput = softmax(x);
    return lastOutput;
  }

  @Override
  public Tensor backward(Tensor gradY) {
    if (lastOutput == null) {
      throw new IllegalStateException("Softmax: backward before forward");
    }
    return softmaxBackward(lastOutput, gradY);
  }

  @Override
  public String toString() {
    return "Softmax(dim=1)";
  }
}
