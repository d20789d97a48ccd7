package dev.batchrpc.compute.cpu;

import dev.batchrpc.compute.AdamScalars;
import dev.batchrpc.compute.nn.ReLU;
import dev.batchrpc.compute.nn.Softmax;
import dev.batchrpc.compute.random.Categorical;

/**
 * The element-wise kernels of {@link CpuBackend} on host arrays whose arguments the backend has
 * checked (see {@link dev.batchrpc.compute.AbstractBackend}): the parameter server's reduction
 * and SGD step block by block, Adam, and the policy round. Rounding as the backend's class comment
 * says ({@link Math#fma} where PyTorch fuses, a float32 rounding after every other operation).
 *
 * <p>Thread confinement: the backend's; the instance keeps the backend's grow-only scratch.
 */
final class CpuKernels {

  /** Rows of the parameter vector handled per pass of the fused PS kernel (fits in L1/L2). */
  private static final int BLOCK = 4096;
  /** Whether the PS loops run on the Vector API ({@link VectorKernels}: same bits, 3x faster). */
  private static final boolean VECTOR = JavaGemm.VECTOR;

  private float[] hiddenScratch = new float[0];
  /** One block of one gradient row for the buffer-reading {@code averageAndSgd}. */
  private final float[] rowScratch = new float[BLOCK];

  // ---- parameter server -----------------------------------------------------------------------

  /** The first {@code count} rows of {@code s} ([rows x length]) averaged into {@code o}. */
  void sumAverage(float[] s, int count, int length, float[] o) {
    for (int start = 0; start < length; start += BLOCK) {
      averageBlock(s, count, length, o, start, Math.min(length, start + BLOCK));
    }
  }

  /** out[j] = (row0[j] + ... + row_{count-1}[j]) / count for j in [from, to), in row order. */
  private static void averageBlock(float[] s, int count, int length, float[] o, int from, int to) {
    System.arraycopy(s, from, o, from, to - from);
    for (int r = 1; r < count; r++) {
      int base = r * length;
      addInto(o, from, s, base + from, to - from);
    }
    divide(o, from, to, count);
  }

  /** {@code g[j] /= count} on [from, to). */
  private static void divide(float[] g, int from, int to, int count) {
    if (VECTOR) {
      VectorKernels.divide(g, from, to, count);
    } else {
      divideScalar(g, from, to, count);
    }
  }

  /** {@link #divide}'s scalar loop (also the tail after {@link VectorKernels}' whole vectors). */
  static void divideScalar(float[] g, int from, int to, float n) {
    for (int j = from; j < to; j++) {
      g[j] /= n;
    }
  }

  /** {@code g[gOff + j] += src[srcOff + j]} for j in [0, len). */
  private static void addInto(float[] g, int gOff, float[] src, int srcOff, int len) {
    if (VECTOR) {
      VectorKernels.addInto(g, gOff, src, srcOff, len);
    } else {
      addIntoScalar(g, gOff, src, srcOff, 0, len);
    }
  }

  /** {@link #addInto}'s scalar loop on j in [from, len) (also the tail after whole vectors). */
  static void addIntoScalar(float[] g, int gOff, float[] src, int srcOff, int from, int len) {
    for (int j = from; j < len; j++) {
      g[gOff + j] += src[srcOff + j];
    }
  }

  /** One SGD step over all of {@code p}; buf is null when momentum is 0. */
  void sgdMomentum(float[] p, float[] g, float[] buf, float lr, float momentum, boolean firstStep) {
    sgdBlock(p, g, buf, lr, momentum, firstStep, 0, p.length);
  }

  /** The SGD update on [from, to); buf is null when momentum is 0. */
  private static void sgdBlock(float[] p, float[] g, float[] buf, float lr, float momentum,
                               boolean firstStep, int from, int to) {
    if (VECTOR) {
      VectorKernels.sgd(p, g, buf, lr, momentum, firstStep, from, to);
    } else {
      sgdScalar(p, g, buf, lr, momentum, firstStep, from, to);
    }
  }

  /**
   * {@link #sgdBlock}'s scalar loops: the element-wise definition of the step (also the tail
   * after {@link VectorKernels}' whole vectors).
   */
  static void sgdScalar(float[] p, float[] g, float[] buf, float lr, float momentum, boolean firstStep,
                        int from, int to) {
    float negLr = -lr;
    if (buf == null) {
      for (int j = from; j < to; j++) {
        p[j] = Math.fma(g[j], negLr, p[j]);
      }
    } else if (firstStep) {
      for (int j = from; j < to; j++) {
        float b = g[j];
        buf[j] = b;
        p[j] = Math.fma(b, negLr, p[j]);
      }
    } else {
      for (int j = from; j < to; j++) {
        // torch: buf.mul_(momentum).add_(grad): one rounding for the product, one for the sum
        float b = buf[j] * momentum + g[j];
        buf[j] = b;
        p[j] = Math.fma(b, negLr, p[j]);
      }
    }
  }

  /** The staged round: average the first {@code count} rows of {@code s} into g, then SGD. */
  void averageAndSgd(float[] s, int count, float[] g, float[] p, float[] buf, float lr,
                     float momentum, boolean firstStep) {
    int length = p.length;
    // Block by block so the averaged gradient is still in cache for the update (one pass over
    // memory instead of two); element-wise the arithmetic is exactly the two calls in sequence.
    for (int start = 0; start < length; start += BLOCK) {
      int end = Math.min(length, start + BLOCK);
      averageBlock(s, count, length, g, start, end);
      sgdBlock(p, g, buf, lr, momentum, firstStep, start, end);
    }
  }

  /**
   * The round read from the gradients' buffers (see {@link CpuBackend#averageAndSgd(
   * java.nio.FloatBuffer[], dev.batchrpc.compute.DeviceArray, dev.batchrpc.compute.DeviceArray,
   * dev.batchrpc.compute.DeviceArray, float, float, boolean)}); {@code views} are duplicates of
   * the rows, each of {@code p.length} elements from its position.
   */
  void averageAndSgd(java.nio.FloatBuffer[] views, float[] g, float[] p, float[] buf, float lr,
                     float momentum, boolean firstStep) {
    int length = p.length;
    float[] scratch = rowScratch;
    for (int start = 0; start < length; start += BLOCK) {
      int end = Math.min(length, start + BLOCK);
      int len = end - start;
      // row 0 straight into the average (as averageBlock's arraycopy), then the others in order
      bulkGet(views[0], start, g, start, len);
      for (int r = 1; r < views.length; r++) {
        bulkGet(views[r], start, scratch, 0, len);
        addInto(g, start, scratch, 0, len);
      }
      divide(g, start, end, views.length);
      sgdBlock(p, g, buf, lr, momentum, firstStep, start, end);
    }
  }

  /** {@code g = row} (first) or {@code g += row}, as {@link CpuBackend#accumulate}. */
  void accumulate(java.nio.FloatBuffer row, float[] g, boolean first) {
    java.nio.FloatBuffer view = row.duplicate();
    if (first) {
      bulkGet(view, 0, g, 0, g.length);
      return;
    }
    float[] scratch = rowScratch;
    for (int start = 0; start < g.length; start += BLOCK) {
      int len = Math.min(g.length, start + BLOCK) - start;
      bulkGet(view, start, scratch, 0, len);
      addInto(g, start, scratch, 0, len);
    }
  }

  /** {@code g /= count}, then the SGD step, as {@link CpuBackend#averageAccumulatedAndSgd}. */
  void averageAccumulatedAndSgd(float[] g, int count, float[] p, float[] buf, float lr,
                                float momentum, boolean firstStep) {
    for (int start = 0; start < p.length; start += BLOCK) {
      int end = Math.min(p.length, start + BLOCK);
      divide(g, start, end, count);
      sgdBlock(p, g, buf, lr, momentum, firstStep, start, end);
    }
  }

  /** Copies {@code len} floats from {@code src} at (its position + {@code from}) into {@code dst}. */
  private static void bulkGet(java.nio.FloatBuffer src, int from, float[] dst, int dstOff, int len) {
    src.get(src.position() + from, dst, dstOff, len);
  }

  // ---- optimizers and policy ------------------------------------------------------------------

  /** One Adam step over four distinct arrays of one length. */
  void adam(float[] p, float[] g, float[] fm, float[] fv, float beta1, float beta2, float eps,
            AdamScalars scalars) {
    float negStepSize = scalars.negStepSize();
    float bc2Sqrt = scalars.bc2Sqrt();
    float oneMinusB1 = scalars.oneMinusBeta1();
    float oneMinusB2 = scalars.oneMinusBeta2();
    for (int j = 0; j < p.length; j++) {
      float gj = g[j];
      float mj = Math.fma(gj, oneMinusB1, fm[j] * beta1);      // exp_avg.mul_(b1).add_(g, 1-b1)
      float vj = fv[j] * beta2 + oneMinusB2 * gj * gj;          // exp_avg_sq.mul_(b2).addcmul_(g, g)
      float denom = (float) Math.sqrt(vj) / bc2Sqrt + eps;      // (v.sqrt() / sqrt(bc2)).add_(eps)
      fm[j] = mj;
      fv[j] = vj;
      p[j] = p[j] + negStepSize * mj / denom;                   // addcdiv_(m, denom, -step_size)
    }
  }

  /** The policy round: the layers, softmax and sampling of each row (uniforms in [0, 1)). */
  void policyRows(float[] w, int in, int hidden, int out, int batch, float[] x,
                  float[] scale, float[] u, float[] probs, int[] actionsOut) {
    if (batch == 0) {
      return;
    }
    int w1 = 0;
    int b1 = hidden * in;
    int w2 = b1 + hidden;
    int b2 = w2 + out * hidden;
    int hn = batch * hidden;
    if (hiddenScratch.length < hn) {
      hiddenScratch = new float[hn];
    }
    float[] h = hiddenScratch;
    // h = x W1^T + b1 (bias first, then GEMM with beta = 1, as torch's addmm)
    for (int r = 0; r < batch; r++) {
      System.arraycopy(w, b1, h, r * hidden, hidden);
    }
    Blas.sgemmRowMajor(false, true, batch, hidden, in, 1f, x, 0, w, w1, 1f, h, 0);
    // dropout, then ReLU (branch-free: half the signs are random, a branch mispredicted often)
    for (int i = 0; i < hn; i++) {
      h[i] = ReLU.of(h[i] * scale[i]);
    }
    // logits = h W2^T + b2, then row softmax in place
    for (int r = 0; r < batch; r++) {
      System.arraycopy(w, b2, probs, r * out, out);
    }
    Blas.sgemmRowMajor(false, true, batch, out, hidden, 1f, h, 0, w, w2, 1f, probs, 0);
    Softmax.forwardRows(probs, 0, probs, 0, batch, out);
    for (int r = 0; r < batch; r++) {
      actionsOut[r] = Categorical.sample(probs, r * out, out, u[r]);
    }
  }
}
