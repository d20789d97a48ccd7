package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;

/**
 * {@code nn.MSELoss()} with mean reduction: {@code loss = mean((pred - target)^2)} over all
 * elements, gradient {@code 2 (pred - target) / numel}.
 */
public final class MseLoss {

  private MseLoss() {
  }

  /** The mean squared error (accumulated in double, then rounded to float32). */
  public static float loss(Tensor pred, Tensor target) {
    Tensor.requireSameShape("MSE pred", pred, "target", target);
    float[] p = pred.data();
    float[] t = target.data();
    if (p.length == 0) {
      throw new IllegalArgumentException("MSE of an empty tensor " + pred.shapeString());
    }
    double sum = 0.0;
    for (int i = 0; i < p.length; i++) {
      float d = p[i] - t[i];
      sum += (double) d * d;
    }
    return (float) (sum / p.length);
  }

  /** d loss / d pred = {@code (2 / numel) * (pred - target)}, as torch's mse_loss_backward. */
  public static Tensor gradient(Tensor pred, Tensor target) {
    Tensor.requireSameShape("MSE pred", pred, "target", target);
    float[] p = pred.data();
    float[] t = target.data();
    if (p.length == 0) {
      throw new IllegalArgumentException("MSE of an empty tensor " + pred.shapeString());
    }
    float norm = (float) (2.0 / p.length);
    Tensor g = Tensor.zeros(pred.shape());
    float[] gd = g.data();
    for (int i = 0; i < p.length; i++) {
      gd[i] = norm * (p[i] - t[i]);
    }
    return g;
  }
}
