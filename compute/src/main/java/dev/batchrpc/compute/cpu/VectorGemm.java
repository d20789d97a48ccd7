package dev.batchrpc.compute.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The SIMD kernels of {@link JavaGemm}, with the Vector API. Loaded only when the JVM has the
 * {@code jdk.incubator.vector} module (the launcher, the image and the tests add it).
 *
 * <p>Why the Vector API and not loops for the JIT: JDK 17's C2 does not vectorize
 * {@code c[ci + j] += x * b[bi + j]} when the two offsets are different loop invariants, which in
 * a GEMM they always are (measured scalar, 0.5-1 ns per element, against 0.08 ns with the Vector
 * API); and here registers hold a tile of C over all of k, which no auto-vectorized loop does.
 *
 * <p>Numerics: lane-wise {@code fma} (one rounding, as {@link Math#fma}) where the CPU has FMA, else
 * {@code mul} then {@code add} (two, as the scalar {@code s + a * b}): see {@link JavaGemm#madd};
 * each element's sum starts at 0 and takes its p in order, then is added to C: bitwise the
 * scalar arithmetic of {@link JavaGemm}, whatever the vector width.
 *
 * <p>No helper here takes or returns a vector unless it is tiny (always inlined): a vector that
 * crosses a call C2 did not inline, or that a branch taken both ways chooses, is boxed, and the
 * kernel runs 5-10x slower (measured, depending on which shapes ran first).
 */
final class VectorGemm {

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final boolean FUSED = JavaGemm.FUSED;
  private static final int L = S.length();

  private VectorGemm() {
  }

  /** The vector width in floats. */
  static int lanes() {
    return L;
  }

  /**
   * {@code s + x * b}, fused (one rounding) or not (two) as {@link JavaGemm#FUSED} says, lane-wise
   * as {@link JavaGemm#madd}. A constant, not a parameter: C2 folds it, whereas a vector chosen
   * by a run-time branch is boxed (measured 10-25x slower).
   */
  private static FloatVector madd(FloatVector x, FloatVector b, FloatVector s) {
    return FUSED ? x.fma(b, s) : s.add(x.mul(b));
  }

  /**
   * Rows i..i+3 of C ({@code c0 + r ldc}), all n columns: {@code s_rj = sum over q < k of
   * a[ar + q aStep] * bb[bi + q ldb + j]} (ar = a0..a3, one per row; alpha is already in a),
   * then added to C, or to 0 without reading C when {@code over} (beta = 0). Tiles of 4 rows x 2
   * vectors stay in registers over all q; the columns left over take a 4 x 1 tile, then scalar
   * sums.
   */
  static void rows4(boolean over, int n, int k, float[] a, int a0, int a1, int a2,
                    int a3, int aStep, float[] bb, int bi, int ldb, float[] c, int c0, int ldc) {
    int j = tiles4x2(over, n, k, a, a0, a1, a2, a3, aStep, bb, bi, ldb, c, c0, ldc);
    j = tiles4x1(over, j, n, k, a, a0, a1, a2, a3, aStep, bb, bi, ldb, c, c0, ldc);
    if (j < n) {
      int c1 = c0 + ldc;
      int c2 = c1 + ldc;
      int c3 = c2 + ldc;
      JavaGemm.scalarRow(FUSED, over, n - j, k, 1f, a, a0, aStep, bb, bi + j, ldb, c, c0 + j);
      JavaGemm.scalarRow(FUSED, over, n - j, k, 1f, a, a1, aStep, bb, bi + j, ldb, c, c1 + j);
      JavaGemm.scalarRow(FUSED, over, n - j, k, 1f, a, a2, aStep, bb, bi + j, ldb, c, c2 + j);
      JavaGemm.scalarRow(FUSED, over, n - j, k, 1f, a, a3, aStep, bb, bi + j, ldb, c, c3 + j);
    }
  }

  // Each tile loop is its own method: all of a method's Vector API calls must be inlined for C2
  // to keep the vectors in registers, and one method with every tile exceeds the inlining budget.

  /** 4 x 2-vector tiles from column 0; returns the first column left. */
  private static int tiles4x2(boolean over, int n, int k, float[] a, int a0, int a1,
                              int a2, int a3, int aStep, float[] bb, int bi, int ldb, float[] c,
                              int c0, int ldc) {
    int c1 = c0 + ldc;
    int c2 = c1 + ldc;
    int c3 = c2 + ldc;
    int j = 0;
    for (; j + 2 * L <= n; j += 2 * L) {
      FloatVector s00 = FloatVector.zero(S);
      FloatVector s01 = s00;
      FloatVector s10 = s00;
      FloatVector s11 = s00;
      FloatVector s20 = s00;
      FloatVector s21 = s00;
      FloatVector s30 = s00;
      FloatVector s31 = s00;
      for (int q = 0; q < k; q++) {
        int br = bi + q * ldb + j;
        FloatVector b0 = FloatVector.fromArray(S, bb, br);
        FloatVector b1 = FloatVector.fromArray(S, bb, br + L);
        int ao = q * aStep;
        FloatVector x = FloatVector.broadcast(S, a[a0 + ao]);
        s00 = madd(x, b0, s00);
        s01 = madd(x, b1, s01);
        x = FloatVector.broadcast(S, a[a1 + ao]);
        s10 = madd(x, b0, s10);
        s11 = madd(x, b1, s11);
        x = FloatVector.broadcast(S, a[a2 + ao]);
        s20 = madd(x, b0, s20);
        s21 = madd(x, b1, s21);
        x = FloatVector.broadcast(S, a[a3 + ao]);
        s30 = madd(x, b0, s30);
        s31 = madd(x, b1, s31);
      }
      if (over) {
        FloatVector z = FloatVector.zero(S);
        z.add(s00).intoArray(c, c0 + j);
        z.add(s01).intoArray(c, c0 + j + L);
        z.add(s10).intoArray(c, c1 + j);
        z.add(s11).intoArray(c, c1 + j + L);
        z.add(s20).intoArray(c, c2 + j);
        z.add(s21).intoArray(c, c2 + j + L);
        z.add(s30).intoArray(c, c3 + j);
        z.add(s31).intoArray(c, c3 + j + L);
      } else {
        FloatVector.fromArray(S, c, c0 + j).add(s00).intoArray(c, c0 + j);
        FloatVector.fromArray(S, c, c0 + j + L).add(s01).intoArray(c, c0 + j + L);
        FloatVector.fromArray(S, c, c1 + j).add(s10).intoArray(c, c1 + j);
        FloatVector.fromArray(S, c, c1 + j + L).add(s11).intoArray(c, c1 + j + L);
        FloatVector.fromArray(S, c, c2 + j).add(s20).intoArray(c, c2 + j);
        FloatVector.fromArray(S, c, c2 + j + L).add(s21).intoArray(c, c2 + j + L);
        FloatVector.fromArray(S, c, c3 + j).add(s30).intoArray(c, c3 + j);
        FloatVector.fromArray(S, c, c3 + j + L).add(s31).intoArray(c, c3 + j + L);
      }
    }
    return j;
  }

  /** 4 x 1-vector tiles from column j; returns the first column left. */
  private static int tiles4x1(boolean over, int j, int n, int k, float[] a, int a0,
                              int a1, int a2, int a3, int aStep, float[] bb, int bi, int ldb,
                              float[] c, int c0, int ldc) {
    int c1 = c0 + ldc;
    int c2 = c1 + ldc;
    int c3 = c2 + ldc;
    for (; j + L <= n; j += L) {
      FloatVector s0 = FloatVector.zero(S);
      FloatVector s1 = s0;
      FloatVector s2 = s0;
      FloatVector s3 = s0;
      for (int q = 0; q < k; q++) {
        FloatVector b0 = FloatVector.fromArray(S, bb, bi + q * ldb + j);
        int ao = q * aStep;
        s0 = madd(FloatVector.broadcast(S, a[a0 + ao]), b0, s0);
        s1 = madd(FloatVector.broadcast(S, a[a1 + ao]), b0, s1);
        s2 = madd(FloatVector.broadcast(S, a[a2 + ao]), b0, s2);
        s3 = madd(FloatVector.broadcast(S, a[a3 + ao]), b0, s3);
      }
      if (over) {
        FloatVector z = FloatVector.zero(S);
        z.add(s0).intoArray(c, c0 + j);
        z.add(s1).intoArray(c, c1 + j);
        z.add(s2).intoArray(c, c2 + j);
        z.add(s3).intoArray(c, c3 + j);
      } else {
        FloatVector.fromArray(S, c, c0 + j).add(s0).intoArray(c, c0 + j);
        FloatVector.fromArray(S, c, c1 + j).add(s1).intoArray(c, c1 + j);
        FloatVector.fromArray(S, c, c2 + j).add(s2).intoArray(c, c2 + j);
        FloatVector.fromArray(S, c, c3 + j).add(s3).intoArray(c, c3 + j);
      }
    }
    return j;
  }

  /** One row of C, as {@link #rows4} for one row. */
  static void rows1(boolean over, int n, int k, float[] a, int a0, int aStep,
                    float[] bb, int bi, int ldb, float[] c, int c0) {
    int j = 0;
    for (; j + 2 * L <= n; j += 2 * L) {
      FloatVector s0 = FloatVector.zero(S);
      FloatVector s1 = s0;
      for (int q = 0; q < k; q++) {
        int br = bi + q * ldb + j;
        FloatVector x = FloatVector.broadcast(S, a[a0 + q * aStep]);
        s0 = madd(x, FloatVector.fromArray(S, bb, br), s0);
        s1 = madd(x, FloatVector.fromArray(S, bb, br + L), s1);
      }
      if (over) {
        FloatVector z = FloatVector.zero(S);
        z.add(s0).intoArray(c, c0 + j);
        z.add(s1).intoArray(c, c0 + j + L);
      } else {
        FloatVector.fromArray(S, c, c0 + j).add(s0).intoArray(c, c0 + j);
        FloatVector.fromArray(S, c, c0 + j + L).add(s1).intoArray(c, c0 + j + L);
      }
    }
    for (; j + L <= n; j += L) {
      FloatVector s0 = FloatVector.zero(S);
      for (int q = 0; q < k; q++) {
        FloatVector x = FloatVector.broadcast(S, a[a0 + q * aStep]);
        s0 = madd(x, FloatVector.fromArray(S, bb, bi + q * ldb + j), s0);
      }
      if (over) {
        FloatVector.zero(S).add(s0).intoArray(c, c0 + j);
      } else {
        FloatVector.fromArray(S, c, c0 + j).add(s0).intoArray(c, c0 + j);
      }
    }
    if (j < n) {
      JavaGemm.scalarRow(FUSED, over, n - j, k, 1f, a, a0, aStep, bb, bi + j, ldb, c, c0 + j);
    }
  }
}
