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
      yd[i] = xd[i] > 0f ? xd[i] : 0f;
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
      gx[i] = yd[i] > 0f ? gy[i] : 0f;
    }
    return gradX;
  }

  @Override
  public String toString() {
    return "ReLU()";
  }
}
