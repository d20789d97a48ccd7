package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.Blas;
import dev.batchrpc.compute.random.Init;
import dev.batchrpc.compute.random.Rng;

/**
 * {@code nn.Linear(in, out)}: {@code y = x W^T + b}, W [out x in] then b [out] in the flat
 * parameter vector (PyTorch's {@code parameters()} order).
 *
 * <p>Backward: {@code grad_x = grad_y W}, {@code grad_W += grad_y^T x},
 * {@code grad_b += sum over rows of grad_y}.
 */
public final class Linear implements Layer {

  private final int in;
  private final int out;
  private float[] params;
  private float[] grads;
  private int offset;
  private Tensor lastInput;

  /** An unbound Linear(in, out); a {@link Sequential} binds it. */
  public Linear(int in, int out) {
    if (in <= 0 || out <= 0) {
      throw new IllegalArgumentException("Linear needs in, out > 0: in=" + in + ", out=" + out);
    }
    this.in = in;
    this.out = out;
  }

  /** Input features. */
  public int in() {
    return in;
  }

  /** Output features. */
  public int out() {
    return out;
  }

  /** Offset of W in the flat vector; b follows at {@code offset() + in * out}. */
  public int offset() {
    return offset;
  }

  @Override
  public int paramCount() {
    return out * in + out;
  }

  @Override
  public void bind(float[] params, float[] grads, int offset) {
    if (offset < 0 || (long) offset + paramCount() > params.length
        || params.length != grads.length) {
      throw new IllegalArgumentException(this + " cannot bind at offset " + offset + " to params of "
          + "length " + params.length + " and grads of length " + grads.length);
    }
    this.params = params;
    this.grads = grads;
    this.offset = offset;
  }

  @Override
  public void init(Rng rng) {
    Init.linear(rng, bound(), offset, in, out);
  }

  private float[] bound() {
    if (params == null) {
      throw new IllegalStateException(this + " is not bound to a parameter vector");
    }
    return params;
  }

  @Override
  public Tensor forward(Tensor x) {
    float[] p = bound();
    if (x.rank() != 2 || x.dim(1) != in) {
      throw new IllegalArgumentException(this + ": input shape " + x.shapeString()
          + " does not match [batch, " + in + "]");
    }
    int batch = x.dim(0);
    Tensor y = Tensor.zeros(batch, out);
    float[] yd = y.data();
    int b = offset + out * in;
    for (int r = 0; r < batch; r++) {
      System.arraycopy(p, b, yd, r * out, out);
    }
    Blas.sgemmRowMajor(false, true, batch, out, in, 1f, x.data(), 0, p, offset, 1f, yd, 0);
    lastInput = x;
    return y;
  }

  @Override
  public Tensor backward(Tensor gradY) {
    return backward(gradY, true);
  }

  /**
   * Skips {@code grad_x = grad_y W} (a [batch x out] x [out x in] GEMM, as large as the
   * {@code grad_W} one) and returns null; the parameter gradients are exactly those of
   * {@link #backward}.
   */
  @Override
  public Tensor backwardParamsOnly(Tensor gradY) {
    return backward(gradY, false);
  }

  /**
   * {@link #backward} ({@code inputGrad}) or {@link #backwardParamsOnly}, writing the parameter
   * gradients instead of adding to them: bitwise what zeroing them first gave (0 + each sum),
   * without a pass over them.
   */
  Tensor backwardWrite(Tensor gradY, boolean inputGrad) {
    return backward(gradY, inputGrad, true);
  }

  private Tensor backward(Tensor gradY, boolean inputGrad) {
    return backward(gradY, inputGrad, false);
  }

  private Tensor backward(Tensor gradY, boolean inputGrad, boolean write) {
    float[] p = bound();
    Tensor x = lastInput;
    if (x == null) {
      throw new IllegalStateException(this + ": backward before forward");
    }
    int batch = x.dim(0);
    if (gradY.rank() != 2 || gradY.dim(0) != batch || gradY.dim(1) != out) {
      throw new IllegalArgumentException(this + ": grad_y shape " + gradY.shapeString()
          + " does not match the output shape [" + batch + ", " + out + "]");
    }
    float[] gy = gradY.data();
    Tensor gradX = null;
    if (inputGrad) {
      gradX = Tensor.zeros(batch, in);
      Blas.sgemmRowMajor(false, false, batch, in, out, 1f, gy, 0, p, offset, 0f, gradX.data(), 0);
    }
    // beta 0 when writing: C = 0 + the product, as BLAS's C = 0 C + the product
    Blas.sgemmRowMajor(true, false, out, in, batch, 1f, gy, 0, x.data(), 0, write ? 0f : 1f,
        grads, offset);
    int b = offset + out * in;
    for (int j = 0; j < out; j++) {
      float sum = 0f;
      for (int r = 0; r < batch; r++) {
        sum += gy[r * out + j];
      }
      grads[b + j] = (write ? 0f : grads[b + j]) + sum;
    }
    return gradX;
  }

  @Override
  public String toString() {
    return "Linear(" + in + ", " + out + ")";
  }
}
