package dev.batchrpc.compute.cpu;

import java.util.Arrays;

/**
 * Row-major SGEMM in Java, made for the small, thin GEMMs of this project: the CPU path's GEMM
 * when no native OpenBLAS is available (see {@link Blas}).
 *
 * <p>Why not netlib's Java BLAS: the trainer's and the agent's GEMMs are small and thin in one
 * dimension (the MLP 784-256-10 at batch 20 has k = 20 in both weight gradients, m = 20 in the
 * forward, n = 10 in its output layer; the policy 4-128-2 has k = 4 and n = 2), and netlib turns
 * the transposed cases into one dot product per element of C, slow when the dot is short.
 *
 * <p>How (all forms do the same arithmetic, see Numerics):
 * <ul>
 *   <li>rows: tiles of 4 rows x 2 SIMD vectors of C stay in registers while p runs over all of
 *       k, each step a broadcast of {@code op(A)[i][p]} times a row of op(B)
 *       ({@link VectorGemm#rows4}); a transposed B is first transposed into a per-thread
 *       scratch; an alpha other than 1 is applied to a copy of op(A) first, so the kernels
 *       broadcast straight from the array;</li>
 *   <li>swapped, for a transposed B and few rows of C (the forward {@code x W^T} at batch 20):
 *       the rows form on C^T = op(B)^T op(A)^T, lanes over m. op(A)^T times alpha and C^T are
 *       copied into scratch with m padded to whole vectors (m k + 2 m n floats moved, where
 *       transposing W moves k n: 12x more in the MLP's forward); chosen by a cost count
 *       ({@link #swapped});</li>
 *   <li>padded, for n from 8 to 15 (the MLP's output layer), 4 to 7 when m and k are both 16
 *       or more (the policy's first-layer gradient over an episode), or below 32 and not a
 *       multiple of the vector width: the rows form on copies of C and op(B) whose rows are
 *       padded with zeros to whole vectors;</li>
 *   <li>dot, for the other n below 16 (the policy's layers at batches 1 to 11, its 2-wide output
 *       layer at any batch), or everything without the Vector API: one scalar running sum per
 *       element.</li>
 * </ul>
 * With beta = 0 every form writes {@code 0 + s} without reading C (no pass filling C with
 * zeros first: for the MLP's weight gradient that pass was 0.8 MB).
 *
 * <p>Numerics, as OpenBLAS and torch's {@code addmm} order them (C scaled first, the product
 * summed apart, then added): C becomes {@code beta == 0 ? 0 : beta * c}; each element's sum is
 * {@code s = 0; for p = 0..k-1: s = madd(alpha * a_ip, b_pj, s)} in float, where madd is
 * {@link Math#fma} on a CPU with FMA (one rounding) and {@code s + x * y} without (two); then
 * {@code c = c + s}. That order depends neither on the loop form, nor on the vector width or the
 * JIT tier, so the result is bitwise the same run to run, and on every machine of the same FMA
 * kind; {@code JavaGemmTest} checks it bitwise against a naive triple loop, with and without FMA.
 *
 * <p>The SIMD kernels need the Vector API ({@code --add-modules=jdk.incubator.vector}, which the
 * launcher, the image and the tests pass): JDK 17's C2 does not vectorize them by itself. Without
 * it the scalar loops here are correct but 2x slower than netlib's scalar Java BLAS, so
 * {@link Blas} then picks that one.
 *
 * <p>Thread safety: stateless apart from per-thread scratch (up to {@link #KEEP_FLOATS} floats
 * each of three, kept; larger ones are allocated per call); callable from any thread. Bounds are
 * the caller's duty (as for {@link Blas#sgemmRowMajor}).
 */
public final class JavaGemm {

  /** Below this n a row of C is less than a 16-lane vector. */
  private static final int SHORT = 16;
  /** Per-thread scratch up to this many floats (1 MiB) is kept between calls. */
  static final int KEEP_FLOATS = 1 << 18;

  /** Whether the Vector API is there ({@code --add-modules=jdk.incubator.vector}). */
  static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

  /**
   * Whether the sums use fused multiply-adds: where the JVM uses the CPU's FMA instructions
   * ({@code -XX:+UseFMA}, HotSpot's default on any CPU that has them). Without them
   * {@link Math#fma} is emulated, 100x slower, so the sums then round twice.
   */
  static final boolean FUSED = cpuHasFma();

  private static final ThreadLocal<float[]> A_SCRATCH =
      ThreadLocal.withInitial(() -> new float[1024]);
  private static final ThreadLocal<float[]> B_SCRATCH =
      ThreadLocal.withInitial(() -> new float[1024]);
  private static final ThreadLocal<float[]> C_SCRATCH =
      ThreadLocal.withInitial(() -> new float[1024]);

  private JavaGemm() {
  }

  /** A short description for the log line and {@link Blas#name()}. */
  static String describe() {
    return (VECTOR ? "Vector API, " + VectorGemm.lanes() + " floats wide"
        : "scalar: run with --add-modules=jdk.incubator.vector for SIMD")
        + (FUSED ? ", FMA" : ", no FMA");
  }

  private static boolean cpuHasFma() {
    try {
      return Boolean.parseBoolean(java.lang.management.ManagementFactory
          .getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class)
          .getVMOption("UseFMA").getValue());
    } catch (RuntimeException | LinkageError e) { // not HotSpot, or no jdk.management module
      return false;
    }
  }

  /** {@code s + u * v}: one rounding ({@link Math#fma}) when {@code fused}, else two. */
  static float madd(boolean fused, float u, float v, float s) {
    return fused ? Math.fma(u, v, s) : s + u * v;
  }

  /**
   * Row-major {@code C = alpha * op(A) * op(B) + beta * C}; the same contract as
   * {@link Blas#sgemmRowMajor}: op(A) is m x k, op(B) is k x n, C is m x n (leading dimension n),
   * A stored m x k (k x m when transposed) from {@code aOff}, B k x n (n x k when transposed) from
   * {@code bOff}. C must not overlap A or B. {@code beta == 0} ignores C (NaNs included), and
   * {@code alpha == 0} or {@code k == 0} ignores A and B, as BLAS.
   */
  public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                           float[] a, int aOff, float[] b, int bOff, float beta, float[] c,
                           int cOff) {
    sgemm(VECTOR, FUSED, transA, transB, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff);
  }

  /**
   * {@link #sgemm}, with the SIMD kernels ({@code vector}, needs the module; their sums are fused
   * as {@link #FUSED} says) or scalar sums, fused or not as asked (for the tests).
   */
  static void sgemm(boolean vector, boolean fused, boolean transA, boolean transB, int m, int n,
                    int k, float alpha, float[] a, int aOff, float[] b, int bOff, float beta,
                    float[] c, int cOff) {
    if (vector && fused != FUSED) {
      throw new IllegalArgumentException("the SIMD kernels' sums are " + (FUSED ? "" : "not ")
          + "fused on this JVM");
    }
    if (m == 0 || n == 0) {
      return;
    }
    // C = beta C first (beta = 0 ignores C, NaNs included, as BLAS); then every form adds s.
    // With beta = 0 ("over") the forms write 0 + s without reading C: the same bits as adding s
    // to a C filled with zeros, without the pass that fills it.
    boolean over = beta == 0f;
    boolean noProducts = k == 0 || alpha == 0f;
    if (over && noProducts) {
      Arrays.fill(c, cOff, cOff + m * n, 0f);
    } else if (!over && beta != 1f) {
      for (int i = cOff; i < cOff + m * n; i++) {
        c[i] = beta * c[i];
      }
    }
    if (noProducts) {
      return;
    }
    if (!vector) {
      dotForm(fused, over, m, n, k, alpha, a, aOff, transA ? 1 : k, transA ? m : 1, b, bOff,
          transB ? k : 1, transB ? 1 : n, c, cOff);
      return;
    }
    int lanes = VectorGemm.lanes();
    // padding n up to whole vectors wastes at most half the lanes from n = 8 on; at n = 4 to 7
    // it pays only with enough work for the copies (the policy's first-layer gradient over an
    // episode, not its forward at batch 11); at n = 2 (the policy's output layer) it never did
    boolean padded = n < SHORT
        ? n >= SHORT / 2 || (n >= SHORT / 4 && m >= SHORT && k >= SHORT)
        : n < 2 * SHORT && n % lanes != 0;
    // One row of x W^T (a single observer's forward pass): the rows form would first transpose
    // all of W, as many floats moved as the dot products' multiply-adds; the dot form reads W's
    // rows as they are. The same sums in the same order (fused), so the same bits.
    if ((n < SHORT && !padded) || (m == 1 && transB)) {
      dotForm(fused, over, m, n, k, alpha, a, aOff, transA ? 1 : k, transA ? m : 1, b, bOff,
          transB ? k : 1, transB ? 1 : n, c, cOff);
    } else if (swapped(transB, m, n, k, padded)) {
      swappedForm(over, transA, transB, m, n, k, alpha, a, aOff, b, bOff, c, cOff);
    } else {
      // the kernels take op(A) as it is: alpha != 1 scales a copy of it once
      int aRow = transA ? 1 : k;
      int aStep = transA ? m : 1;
      if (alpha != 1f) {
        float[] as = scratch(A_SCRATCH, m * k);
        for (int i = 0; i < m; i++) {
          for (int p = 0; p < k; p++) {
            as[i * k + p] = alpha * a[aOff + i * aRow + p * aStep];
          }
        }
        a = as;
        aOff = 0;
        aRow = k;
        aStep = 1;
      }
      if (padded) {
        paddedForm(over, transB, m, n, k, a, aOff, aRow, aStep, b, bOff, c, cOff);
      } else if (transB) {
        float[] bt = scratch(B_SCRATCH, k * n);
        transpose(n, k, b, bOff, bt);
        rowsForm(over, m, n, k, a, aOff, aRow, aStep, bt, 0, c, cOff);
      } else {
        rowsForm(over, m, n, k, a, aOff, aRow, aStep, b, bOff, c, cOff);
      }
    }
  }

  /**
   * Whether the swapped form costs less: with B transposed and few rows of C (the forward
   * {@code x W^T} at a small batch), the rows form first transposes W, k n floats moved, as many
   * as its m k n / 16 vector multiply-adds at m = 16; the swapped form moves m k + 2 m n floats
   * but wastes the lanes that pad m to whole vectors. Counted in floats moved plus vector
   * multiply-adds, one each (which picked the faster form on the four shapes measured: m x n x k
   * = 20 x 256 x 784 (the MLP's forward, 1.1x), 32 x 256 x 784 (1.4x), 20 x 512 x 256 (1.5x)
   * swapped; 20 x 128 x 784 rows, 1.1x).
   */
  private static boolean swapped(boolean transB, int m, int n, int k, boolean padded) {
    if (!transB || padded || m < SHORT / 2) {
      return false;
    }
    int lanes = VectorGemm.lanes();
    long mp = (m + lanes - 1) / lanes * lanes;
    long rows = (long) k * n + (long) m * k * ((n + lanes - 1) / lanes);
    long swap = (long) k * mp + 2L * m * n + (long) n * k * (mp / lanes);
    return swap < rows;
  }

  /**
   * C^T = op(B)^T op(A)^T by the rows form, lanes over m: op(A)^T times alpha is copied into
   * scratch with its rows padded to whole vectors, C^T (already scaled by beta) into more scratch,
   * and C^T is copied back. Bitwise the same arithmetic: each element's products are the same
   * (fma and the product are symmetric in their two factors), summed in the same order.
   */
  private static void swappedForm(boolean over, boolean transA, boolean transB, int m, int n, int k,
                                  float alpha, float[] a, int aOff, float[] b, int bOff,
                                  float[] c, int cOff) {
    int lanes = VectorGemm.lanes();
    int mp = (m + lanes - 1) / lanes * lanes;
    float[] ap = scratch(A_SCRATCH, k * mp);
    if (transA) {
      for (int p = 0; p < k; p++) {
        int o = p * mp;
        int s = aOff + p * m;
        for (int i = 0; i < m; i++) {
          ap[o + i] = alpha * a[s + i];
        }
        Arrays.fill(ap, o + m, o + mp, 0f);
      }
    } else {
      transpose(m, k, a, aOff, ap, mp, alpha);
    }
    float[] cp = scratch(C_SCRATCH, n * mp);
    if (!over) {
      transpose(m, n, c, cOff, cp, mp, 1f);
    }
    rowsForm(over, n, mp, k, b, bOff, transB ? k : 1, transB ? 1 : n, ap, 0, cp, 0);
    for (int i = 0; i < m; i++) {
      int o = cOff + i * n;
      for (int j = 0; j < n; j++) {
        c[o + j] = cp[j * mp + i];
      }
    }
  }

  /** The padded form: C and op(B) copied with their rows padded to whole vectors. */
  private static void paddedForm(boolean over, boolean transB, int m, int n, int k, float[] a, int aOff,
                                 int aRow, int aStep, float[] b, int bOff, float[] c, int cOff) {
    int np = (n + VectorGemm.lanes() - 1) / VectorGemm.lanes() * VectorGemm.lanes();
    float[] bp = scratch(B_SCRATCH, k * np);
    for (int p = 0; p < k; p++) {
      if (transB) {
        for (int j = 0; j < n; j++) {
          bp[p * np + j] = b[bOff + j * k + p];
        }
      } else {
        System.arraycopy(b, bOff + p * n, bp, p * np, n);
      }
      Arrays.fill(bp, p * np + n, (p + 1) * np, 0f);
    }
    float[] cp = scratch(C_SCRATCH, m * np);
    if (!over) {
      for (int i = 0; i < m; i++) {
        System.arraycopy(c, cOff + i * n, cp, i * np, n);
      }
    }
    rowsForm(over, m, np, k, a, aOff, aRow, aStep, bp, 0, cp, 0);
    for (int i = 0; i < m; i++) {
      System.arraycopy(cp, i * np, c, cOff + i * n, n);
    }
  }

  private static float[] scratch(ThreadLocal<float[]> holder, int len) {
    float[] t = holder.get();
    if (t.length >= len) {
      return t;
    }
    if (len > KEEP_FLOATS) {
      return new float[len];
    }
    t = new float[Math.max(len, Math.min(KEEP_FLOATS, 2 * t.length))];
    holder.set(t);
    return t;
  }

  /**
   * The rows form: op(B) row p is {@code bb[bi + p n ..)} (leading dimension n), op(A)[i][p] is
   * {@code a[aOff + i aRow + p aStep]} (alpha already applied); four rows of C at a time, then the
   * rest one at a time.
   */
  private static void rowsForm(boolean over, int m, int n, int k, float[] a, int aOff, int aRow,
                               int aStep, float[] bb, int bi, float[] c, int cOff) {
    int i = 0;
    for (; i + 3 < m; i += 4) {
      int a0 = aOff + i * aRow;
      VectorGemm.rows4(over, n, k, a, a0, a0 + aRow, a0 + 2 * aRow, a0 + 3 * aRow, aStep,
          bb, bi, n, c, cOff + i * n, n);
    }
    for (; i < m; i++) {
      VectorGemm.rows1(over, n, k, a, aOff + i * aRow, aStep, bb, bi, n, c, cOff + i * n);
    }
  }

  /**
   * One row of C, {@code len} columns, scalar: {@code s_j = sum over q < k of (alpha a[ar + q
   * aStep]) * bb[bi + q ldb + j]}, added to {@code c[ci + j]} (the columns the SIMD tiles leave
   * over).
   */
  static void scalarRow(boolean fused, boolean over, int len, int k, float alpha, float[] a,
                        int ar, int aStep, float[] bb, int bi, int ldb, float[] c, int ci) {
    for (int j = 0; j < len; j++) {
      float s = 0f;
      for (int q = 0; q < k; q++) {
        s = madd(fused, alpha * a[ar + q * aStep], bb[bi + q * ldb + j], s);
      }
      c[ci + j] = (over ? 0f : c[ci + j]) + s;
    }
  }

  /** {@code t[p rows + r] = src[off + r k + p]}: a rows x k matrix, transposed. */
  private static void transpose(int rows, int k, float[] src, int off, float[] t) {
    int r = 0;
    // eight rows at a time: eight sequential reads, 32 adjacent bytes written per row of t
    for (; r + 7 < rows; r += 8) {
      int r0 = off + r * k;
      for (int q = 0; q < k; q++) {
        int o = q * rows + r;
        int s = r0 + q;
        t[o] = src[s];
        t[o + 1] = src[s + k];
        t[o + 2] = src[s + 2 * k];
        t[o + 3] = src[s + 3 * k];
        t[o + 4] = src[s + 4 * k];
        t[o + 5] = src[s + 5 * k];
        t[o + 6] = src[s + 6 * k];
        t[o + 7] = src[s + 7 * k];
      }
    }
    for (; r + 3 < rows; r += 4) {
      int r0 = off + r * k;
      int r1 = r0 + k;
      int r2 = r1 + k;
      int r3 = r2 + k;
      for (int q = 0; q < k; q++) {
        int o = q * rows + r;
        t[o] = src[r0 + q];
        t[o + 1] = src[r1 + q];
        t[o + 2] = src[r2 + q];
        t[o + 3] = src[r3 + q];
      }
    }
    for (; r < rows; r++) {
      int r0 = off + r * k;
      for (int q = 0; q < k; q++) {
        t[q * rows + r] = src[r0 + q];
      }
    }
  }

  /**
   * {@code t[q ld + r] = scale * src[off + r k + q]} for r < rows, and 0 for r from rows to ld: a
   * rows x k matrix, transposed (times scale unless it is 1) into rows of ld floats.
   */
  private static void transpose(int rows, int k, float[] src, int off, float[] t, int ld,
                                float scale) {
    for (int q = 0; q < k; q++) {
      Arrays.fill(t, q * ld + rows, q * ld + ld, 0f);
    }
    int r = 0;
    for (; r + 3 < rows; r += 4) {
      int r0 = off + r * k;
      int r1 = r0 + k;
      int r2 = r1 + k;
      int r3 = r2 + k;
      if (scale == 1f) {
        for (int q = 0; q < k; q++) {
          int o = q * ld + r;
          t[o] = src[r0 + q];
          t[o + 1] = src[r1 + q];
          t[o + 2] = src[r2 + q];
          t[o + 3] = src[r3 + q];
        }
      } else {
        for (int q = 0; q < k; q++) {
          int o = q * ld + r;
          t[o] = scale * src[r0 + q];
          t[o + 1] = scale * src[r1 + q];
          t[o + 2] = scale * src[r2 + q];
          t[o + 3] = scale * src[r3 + q];
        }
      }
    }
    for (; r < rows; r++) {
      int r0 = off + r * k;
      for (int q = 0; q < k; q++) {
        t[q * ld + r] = scale == 1f ? src[r0 + q] : scale * src[r0 + q];
      }
    }
  }

  /**
   * One scalar running sum per element, p in order, everything read in place: op(A)[i][p] at
   * {@code aOff + i aRow + p aStep}, op(B)[p][j] at {@code bOff + p pStride + j jStride}. Rows i
   * and i+1 times columns j and j+1 give four independent sums per pass, sharing their loads.
   */
  private static void dotForm(boolean fused, boolean over, int m, int n, int k, float alpha, float[] a, int aOff,
                              int aRow, int aStep, float[] b, int bOff, int jStride, int pStride,
                              float[] c, int cOff) {
    int i = 0;
    for (; i + 1 < m; i += 2) {
      int x0 = aOff + i * aRow;
      int x1 = x0 + aRow;
      int c0 = cOff + i * n;
      int c1 = c0 + n;
      int j = 0;
      for (; j + 1 < n; j += 2) {
        int y0 = bOff + j * jStride;
        int y1 = y0 + jStride;
        float s00 = 0f;
        float s01 = 0f;
        float s10 = 0f;
        float s11 = 0f;
        for (int p = 0; p < k; p++) {
          float u0 = alpha * a[x0 + p * aStep];
          float u1 = alpha * a[x1 + p * aStep];
          float v0 = b[y0 + p * pStride];
          float v1 = b[y1 + p * pStride];
          s00 = madd(fused, u0, v0, s00);
          s01 = madd(fused, u0, v1, s01);
          s10 = madd(fused, u1, v0, s10);
          s11 = madd(fused, u1, v1, s11);
        }
        c[c0 + j] = (over ? 0f : c[c0 + j]) + s00;
        c[c0 + j + 1] = (over ? 0f : c[c0 + j + 1]) + s01;
        c[c1 + j] = (over ? 0f : c[c1 + j]) + s10;
        c[c1 + j + 1] = (over ? 0f : c[c1 + j + 1]) + s11;
      }
      if (j < n) {
        scalarRow(fused, over, 1, k, alpha, a, x0, aStep, b, bOff + j * jStride, pStride, c,
            c0 + j);
        scalarRow(fused, over, 1, k, alpha, a, x1, aStep, b, bOff + j * jStride, pStride, c,
            c1 + j);
      }
    }
    if (i < m) {
      int x0 = aOff + i * aRow;
      for (int j = 0; j < n; j++) {
        scalarRow(fused, over, 1, k, alpha, a, x0, aStep, b, bOff + j * jStride, pStride, c,
            cOff + i * n + j);
      }
    }
  }
}
