package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.random.Rng;

/**
 * {@code nn.Dropout(p)} in training mode: {@code y = x * scale} where each scale is 0 (dropped, with
 * probability p) or {@code 1/(1-p)} (kept). The scales are drawn from a seeded {@link Rng} (see
 * {@link Rng#dropoutScales}) or supplied, and kept for the backward pass
 * ({@code grad_x = grad_y * scale}), so a forward can be recomputed exactly with the same masks.
 */
public final class Dropout implements Layer {

  private final double p;
  private final Rng rng;
  private Tensor lastScale;

  /**
   * @param p the drop probability, in [0, 1]
   * @param rng the generator for {@link #forward(Tensor)}; may be null when the scales are always
   *     supplied through {@link #forward(Tensor, Tensor)}
   */
  public Dropout(double p, Rng rng) {
    if (!(p >= 0.0 && p <= 1.0)) {
      throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
    }
    this.p = p;
    this.rng = rng;
  }

  /** The drop probability. */
  public double p() {
    return p;
  }

  /** The scale of a kept element, {@code 1/(1-p)} in float32 (0 when p = 1). */
  public float keptScale() {
    return p == 1.0 ? 0f : 1f / (float) (1.0 - p);
  }

  /** The scales of the last forward (not a copy), or null before the first. */
  public Tensor lastScale() {
    return lastScale;
  }

  /** Draws fresh scales from the generator and applies them. */
  @Override
  public Tensor forward(Tensor x) {
    if (rng == null) {
      throw new IllegalStateException("Dropout without a generator needs the scales supplied");
    }
    Tensor scale = Tensor.zeros(x.shape());
    rng.dropoutScales(scale.data(), 0, scale.size(), p);
    return forward(x, scale);
  }

  /** Applies the given scales (each 0 or {@link #keptScale()}), kept for the backward pass. */
  public Tensor forward(Tensor x, Tensor scale) {
    Tensor.requireSameShape("Dropout input", x, "scale", scale);
    Tensor y = Tensor.zeros(x.shape());
    float[] xd = x.data();
    float[] s = scale.data();
    float[] yd = y.data();
    for (int i = 0; i < yd.length; i++) {
      yd[i] = xd[i] * s[i];
    }
    lastScale = scale;
    return y;
  }

  @Override
  public Tensor backward(Tensor gradY) {
    Tensor s = lastScale;
    if (s == null) {
      throw new IllegalStateException("Dropout: backward before forward");
    }
    Tensor.requireSameShape("Dropout grad_y", gradY, "scale", s);
    Tensor gradX = Tensor.zeros(s.shape());
    float[] gy = gradY.data();
    float[] sd = s.data();
    float[] gx = gradX.data();
    for (int i = 0; i < gx.length; i++) {
      gx[i] = gy[i] * sd[i];
    }
    return gradX;
  }

  @Override
  public String toString() {
    return "Dropout(p=" + p + ")";
  }
}
