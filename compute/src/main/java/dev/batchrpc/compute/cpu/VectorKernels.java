package dev.batchrpc.compute.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The parameter server's element-wise loops (row sums, the average's division, the SGD step) on
 * the Vector API: the same IEEE operations in the same order per element as {@link CpuKernels}'
 * scalar loops (an add, a division, a multiply then an add for the momentum, a fused
 * multiply-add for the update), so the results are bit for bit the same; only the lanes run
 * together. HotSpot's own vectorizer leaves these loops scalar (3x slower for a 203,530-parameter
 * round; docs/benchmarks/ps.md).
 *
 * <p>Loaded only where the {@code jdk.incubator.vector} module is present ({@link JavaGemm#VECTOR}).
 */
final class VectorKernels {

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private VectorKernels() {
  }

  /** {@code g[gOff + j] += src[srcOff + j]} for j in [0, len). */
  static void addInto(float[] g, int gOff, float[] src, int srcOff, int len) {
    int j = 0;
    for (int up = S.loopBound(len); j < up; j += S.length()) {
      FloatVector.fromArray(S, g, gOff + j).add(FloatVector.fromArray(S, src, srcOff + j)).intoArray(g, gOff + j);
    }
    CpuKernels.addIntoScalar(g, gOff, src, srcOff, j, len);
  }

  /** {@code g[j] /= n} for j in [from, to). */
  static void divide(float[] g, int from, int to, float n) {
    int j = from;
    for (int up = from + S.loopBound(to - from); j < up; j += S.length()) {
      FloatVector.fromArray(S, g, j).div(n).intoArray(g, j);
    }
    CpuKernels.divideScalar(g, j, to, n);
  }

  /** {@link CpuKernels}' SGD update on [from, to); buf is null when momentum is 0. */
  static void sgd(float[] p, float[] g, float[] buf, float lr, float momentum, boolean firstStep, int from,
                  int to) {
    FloatVector nl = FloatVector.broadcast(S, -lr);
    int j = from;
    int up = from + S.loopBound(to - from);
    if (buf == null) {
      for (; j < up; j += S.length()) {
        FloatVector.fromArray(S, g, j).fma(nl, FloatVector.fromArray(S, p, j)).intoArray(p, j);
      }
    } else if (firstStep) {
      for (; j < up; j += S.length()) {
        FloatVector b = FloatVector.fromArray(S, g, j);
        b.intoArray(buf, j);
        b.fma(nl, FloatVector.fromArray(S, p, j)).intoArray(p, j);
      }
    } else {
      for (; j < up; j += S.length()) {
        // torch: buf.mul_(momentum).add_(grad): one rounding for the product, one for the sum
        FloatVector b = FloatVector.fromArray(S, buf, j).mul(momentum).add(FloatVector.fromArray(S, g, j));
        b.intoArray(buf, j);
        b.fma(nl, FloatVector.fromArray(S, p, j)).intoArray(p, j);
      }
    }
    // the elements after the last whole vector, by the scalar definition
    CpuKernels.sgdScalar(p, g, buf, lr, momentum, firstStep, j, to);
  }
}
