package dev.batchrpc.compute.cpu;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.random.Rng;
import dev.ludovic.netlib.blas.JavaBLAS;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class JavaGemmTest {

  /**
   * m x n x k: the trainer's MLP 784-256-10 at batch 20 (forward, both weight gradients, the
   * hidden gradient), the policy 4-128-2 at batches 1, 11 and 500, odd sizes around the tile
   * edges (4 rows, 1 and 2 vectors of 8 or 16 lanes, the dot and columns forms' 16), and blocks
   * of p (8192 / n) that do not divide k.
   */
  private static final int[][] SHAPES = {
      {20, 256, 784}, {20, 10, 256}, {20, 256, 10}, {10, 256, 20}, {256, 784, 20},
      {1, 128, 4}, {1, 2, 128}, {11, 128, 4}, {11, 2, 128}, {128, 4, 500}, {2, 128, 500},
      {500, 128, 2}, {1, 1, 1}, {3, 17, 5}, {5, 33, 7}, {7, 47, 65}, {17, 16, 3}, {33, 15, 9},
      {16, 3, 100}, {4, 1, 9}, {37, 61, 129}, {6, 40, 300}, {9, 1000, 11}, {19, 5, 2},
      {5, 8, 3}, {6, 24, 5}, {3, 31, 2}, {2, 48, 3}, {4, 0, 3}, {3, 4, 0}};

  private static final float[][] ALPHA_BETA =
      {{1f, 1f}, {1f, 0f}, {0.5f, 0.25f}, {-2f, 1f}, {0f, 0.5f}};

  /** The documented arithmetic, element by element: what JavaGemm promises bitwise. */
  private static void naive(boolean fused, boolean ta, boolean tb, int m, int n, int k,
                            float alpha, float[] a, int aOff, float[] b, int bOff, float beta,
                            float[] c, int cOff) {
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        int ci = cOff + i * n + j;
        c[ci] = beta == 0f ? 0f : beta * c[ci];
        if (k == 0 || alpha == 0f) {
          continue;
        }
        float s = 0f;
        for (int p = 0; p < k; p++) {
          float x = alpha * (ta ? a[aOff + p * m + i] : a[aOff + i * k + p]);
          float y = tb ? b[bOff + j * k + p] : b[bOff + p * n + j];
          s = fused ? Math.fma(x, y, s) : s + x * y;
        }
        c[ci] = c[ci] + s;
      }
    }
  }

  /** {@code len} floats uniform in [-1, 1). */
  static float[] random(Rng rng, int len) {
    float[] f = new float[len];
    rng.nextFloats(f, 0, len);
    for (int i = 0; i < len; i++) {
      f[i] = 2f * f[i] - 1f;
    }
    return f;
  }

  private static List<String> cases() {
    List<String> out = new ArrayList<>();
    for (int[] s : SHAPES) {
      for (int t = 0; t < 4; t++) {
        for (float[] ab : ALPHA_BETA) {
          out.add(s[0] + "," + s[1] + "," + s[2] + "," + t + "," + ab[0] + "," + ab[1]);
        }
      }
    }
    return out;
  }

  private void bitwiseAsNaive(boolean vector, boolean fused) {
    Rng rng = new Rng(11);
    assertThat(cases()).allSatisfy(cs -> {
      String[] f = cs.split(",");
      int m = Integer.parseInt(f[0]);
      int n = Integer.parseInt(f[1]);
      int k = Integer.parseInt(f[2]);
      boolean ta = (Integer.parseInt(f[3]) & 1) != 0;
      boolean tb = (Integer.parseInt(f[3]) & 2) != 0;
      float alpha = Float.parseFloat(f[4]);
      float beta = Float.parseFloat(f[5]);
      // offsets so that no operand starts at 0 or on a vector boundary
      float[] a = random(rng, 3 + m * k);
      float[] b = random(rng, 5 + k * n);
      float[] c = random(rng, 7 + m * n + 2);
      c[7] = beta == 0f ? Float.NaN : c[7]; // beta = 0 must ignore C
      float[] expected = c.clone();
      naive(fused, ta, tb, m, n, k, alpha, a, 3, b, 5, beta, expected, 7);
      JavaGemm.sgemm(vector, fused, ta, tb, m, n, k, alpha, a, 3, b, 5, beta, c, 7);
      assertThat(c).as("m=%d n=%d k=%d tA=%s tB=%s alpha=%s beta=%s vector=%s fused=%s", m, n, k,
          ta, tb, alpha, beta, vector, fused).isEqualTo(expected);
    });
  }

  /**
   * The SIMD kernels fuse their sums as the JVM's FMA flag says (a constant, see VectorGemm), so
   * one JVM tests one kind; compute/pom.xml runs this class again with {@code -XX:-UseFMA}.
   */
  @Test
  void vectorPathIsBitwiseTheNaiveLoopForEveryShapeAndTransposition() {
    assertThat(JavaGemm.VECTOR).as("surefire passes --add-modules=jdk.incubator.vector").isTrue();
    bitwiseAsNaive(true, JavaGemm.FUSED);
  }

  @Test
  void scalarPathIsBitwiseTheNaiveLoopForEveryShapeAndTransposition() {
    bitwiseAsNaive(false, false);
    if (JavaGemm.FUSED) { // without the CPU's FMA, Math.fma is emulated: far too slow here
      bitwiseAsNaive(false, true);
    }
  }

  @Test
  void matchesNetlibJavaBlasWithinRoundingForEveryShapeAndTransposition() {
    // netlib's Vector API BLAS uses fma: emulated, far too slow, in the -XX:-UseFMA run
    assumeTrue(JavaGemm.FUSED, "the JVM uses the CPU's FMA");
    Rng rng = new Rng(5);
    JavaBLAS netlib = JavaBLAS.getInstance();
    for (int[] s : SHAPES) {
      int m = s[0];
      int n = s[1];
      int k = s[2];
      if (m * n * k == 0) {
        continue; // BLAS rejects a leading dimension of 0
      }
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        float[] a = random(rng, m * k);
        float[] b = random(rng, k * n);
        float[] c0 = random(rng, m * n);
        float[] ours = c0.clone();
        float[] theirs = c0.clone();
        JavaGemm.sgemm(ta, tb, m, n, k, 0.5f, a, 0, b, 0, 1f, ours, 0);
        netlib.sgemm(tb ? "T" : "N", ta ? "T" : "N", n, m, k, 0.5f, b, 0, tb ? k : n, a, 0,
            ta ? m : k, 1f, theirs, 0, n);
        // both are float sums of k products of magnitude <= 0.5: they may differ by a few ulps
        // of that scale per product, so the bound is relative to k, not to the result
        assertClose("m=" + m + " n=" + n + " k=" + k + " tA=" + ta + " tB=" + tb, ours, theirs,
            1e-6 * k, 1e-5);
      }
    }
  }

  @Test
  void betaZeroClearsNaNsAndAlphaZeroOnlyScales() {
    float[] a = {Float.NaN, 1f};
    float[] b = {1f, Float.NaN};
    float[] c = {Float.NaN, 2f, 3f, 4f};
    JavaGemm.sgemm(false, false, 2, 2, 1, 0f, a, 0, b, 0, 0f, c, 0);
    assertThat(c).containsExactly(0f, 0f, 0f, 0f);
    float[] d = {1f, 2f, 3f, 4f};
    JavaGemm.sgemm(false, false, 2, 2, 1, 0f, a, 0, b, 0, 0.5f, d, 0);
    assertThat(d).containsExactly(0.5f, 1f, 1.5f, 2f);
    float[] e = {1f, 2f};
    JavaGemm.sgemm(false, false, 1, 2, 0, 1f, a, 0, b, 0, 2f, e, 0);
    assertThat(e).containsExactly(2f, 4f);
  }

  @Test
  void isDeterministicRunToRun() {
    Rng rng = new Rng(9);
    float[] x = random(rng, 20 * 784);
    float[] w = random(rng, 256 * 784);
    float[] first = new float[20 * 256];
    JavaGemm.sgemm(false, true, 20, 256, 784, 1f, x, 0, w, 0, 0f, first, 0);
    for (int r = 0; r < 50; r++) { // long enough for the JIT to recompile in between
      float[] again = new float[20 * 256];
      JavaGemm.sgemm(false, true, 20, 256, 784, 1f, x, 0, w, 0, 0f, again, 0);
      assertThat(again).isEqualTo(first);
    }
  }

  /** Linear's forward and backward GEMMs, done with JavaGemm directly, against PyTorch. */
  @Test
  void linearFixturesMatchTorchOnBothPaths() {
    for (boolean vector : new boolean[] {true, false}) {
      for (Fixtures.Case fx : Fixtures.load("linear")) {
        int in = fx.integer("in");
        int out = fx.integer("out");
        float[] x = fx.floats("x");
        float[] w = fx.floats("weight");
        float[] bias = fx.floats("bias");
        float[] gy = fx.floats("grad_y");
        int batch = x.length / in;
        float[] y = new float[batch * out];
        for (int r = 0; r < batch; r++) {
          System.arraycopy(bias, 0, y, r * out, out);
        }
        JavaGemm.sgemm(vector, JavaGemm.FUSED, false, true,
            batch, out, in, 1f, x, 0, w, 0, 1f, y, 0);
        assertClose(fx + " y (vector=" + vector + ")", y, fx.floats("y"));
        float[] gx = new float[batch * in];
        JavaGemm.sgemm(vector, JavaGemm.FUSED, false, false,
            batch, in, out, 1f, gy, 0, w, 0, 0f, gx, 0);
        assertClose(fx + " grad_x (vector=" + vector + ")", gx, fx.floats("grad_x"));
        float[] gw = new float[out * in];
        JavaGemm.sgemm(vector, JavaGemm.FUSED, true, false,
            out, in, batch, 1f, gy, 0, x, 0, 1f, gw, 0);
        assertClose(fx + " grad_weight (vector=" + vector + ")", gw, fx.floats("grad_weight"));
      }
    }
  }
}
