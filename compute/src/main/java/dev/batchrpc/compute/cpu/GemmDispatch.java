package dev.batchrpc.compute.cpu;

import dev.ludovic.netlib.blas.BLAS;
import java.util.ArrayList;
import java.util.List;

/**
 * Which GEMM takes a call, by its shape: a native BLAS (netlib's JNI into OpenBLAS) for the calls
 * it is faster on, {@link JavaGemm} for the others. Immutable, so callable from any thread.
 *
 * <p>The size of a call is its number of multiply-adds, m n k. In order:
 * <ol>
 *   <li>calls of {@link #javaFrom} or more go to {@link JavaGemm} (where a multi-threaded
 *       OpenBLAS would hand the call to its own threads, which serializes concurrent callers);</li>
 *   <li>calls with n below {@link #THIN} go to the native BLAS: JavaGemm sums those one scalar
 *       dot per element, and every OpenBLAS measured was faster there (0.2-0.7x its time on the
 *       agent policy's 2-wide output layer at batches 11 and 1000);</li>
 *   <li>calls of fewer than {@link #javaBelow} go to {@link JavaGemm} (a call into OpenBLAS has a
 *       fixed cost of about 0.5 us, and its kernels may not be the ones for this CPU: see
 *       {@link #fusedKernels});</li>
 *   <li>the rest go to the native BLAS.</li>
 * </ol>
 *
 * <p>Numerics: each call's result is either {@link JavaGemm}'s (bitwise its documented order) or
 * the native BLAS's; which one depends only on m, n, k and the bounds, fixed for the process, so
 * every call of a shape goes the same way, in every run with the same bounds.
 */
final class GemmDispatch {

  /**
   * OpenBLAS 0.3's GEMM hands a call to its thread pool from m n k = 65536 x
   * GEMM_MULTITHREAD_THRESHOLD (4 unless built otherwise) on ({@code interface/gemm.c}); below it
   * every call runs on the caller's thread whatever OPENBLAS_NUM_THREADS says.
   */
  static final long OPENBLAS_THREADS_FROM = 65536L * 4;

  /**
   * The default bound under which calls go to JavaGemm when OpenBLAS's kernels are fused
   * (Haswell-class): measured on this project's 2-core machine (docs/benchmarks/compute.md,
   * "Dispatch by shape"), JavaGemm was faster on the policy's forward at batches 1 and 11 (512
   * and 5,632 multiply-adds) and OpenBLAS 1.1-5x faster on each of the MLP's shapes (51,200 and
   * up); this bound lies between.
   */
  static final long JAVA_BELOW_FUSED = 16384;

  /** Below this many columns of C JavaGemm sums one scalar dot per element. */
  static final int THIN = 4;

  private final BLAS blas;
  private final long javaBelow;
  private final long javaFrom;

  /**
   * Calls of fewer than {@code javaBelow} or of at least {@code javaFrom} multiply-adds to
   * {@link JavaGemm}, and those with n below {@link #THIN} under {@code javaFrom} to {@code blas},
   * the others to {@code blas} (every call to JavaGemm when it is null).
   */
  GemmDispatch(BLAS blas, long javaBelow, long javaFrom) {
    this.blas = blas;
    this.javaBelow = javaBelow;
    this.javaFrom = javaFrom;
  }

  /** The native (or netlib Java) BLAS the calls not given to JavaGemm go to; null for none. */
  BLAS blas() {
    return blas;
  }

  /** Every call to {@code blas} (to JavaGemm when it is null). */
  static GemmDispatch every(BLAS blas) {
    return new GemmDispatch(blas, 0, Long.MAX_VALUE);
  }

  /** Whether a call of this shape goes to {@link JavaGemm}. */
  boolean toJava(int m, int n, int k) {
    if (blas == null) {
      return true;
    }
    long macs = (long) m * n * k;
    if (macs >= javaFrom) {
      return true;
    }
    return n >= THIN && macs < javaBelow;
  }

  /** The {@link Blas#sgemmRowMajor} contract; m, n, k greater than 0, alpha not 0. */
  void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a,
             int aOff, float[] b, int bOff, float beta, float[] c, int cOff) {
    if (toJava(m, n, k)) {
      JavaGemm.sgemm(transA, transB, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff);
    } else {
      nativeRowMajor(blas, transA, transB, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff);
    }
  }

  /**
   * Row-major through a column-major netlib BLAS, no copies: a row-major matrix read column-major
   * is its transpose, so this asks for C^T = op(B)^T op(A)^T.
   */
  static void nativeRowMajor(BLAS blas, boolean transA, boolean transB, int m, int n, int k,
                             float alpha, float[] a, int aOff, float[] b, int bOff, float beta,
                             float[] c, int cOff) {
    blas.sgemm(transB ? "T" : "N", transA ? "T" : "N", n, m, k, alpha, b, bOff, transB ? k : n,
        a, aOff, transA ? m : k, beta, c, cOff, n);
  }

  /**
   * Whether {@code blas}'s SGEMM kernels sum with fused multiply-adds: OpenBLAS's kernels for
   * Haswell and later (Zen, SkylakeX, Cooperlake, ...) do, its generic ones (Prescott, Core2,
   * Nehalem, Sandybridge) do not. A DYNAMIC_ARCH OpenBLAS that does not know the CPU (Debian's
   * 0.3.21 on family 6 model 207) falls back to Prescott, 2-4x slower than {@link JavaGemm} on
   * the trainer's shapes, where its SkylakeX kernels are 1.1-5x faster.
   *
   * <p>The probe, 16 x 16 with k = 2, makes every element {@code -(1+e)^2 + (1+e)^2} with
   * e = 2^-12: (1+e)^2 = 1 + 2^-11 + 2^-24 is not a float, so summed unfused (each product
   * rounded to 1 + 2^-11) it is exactly 0, and fused (one product exact) +-2^-24, in either
   * order. True only if every element is nonzero.
   */
  static boolean fusedKernels(BLAS blas) {
    int m = 16;
    int n = 16;
    int k = 2;
    float x = 1f + 1f / 4096;
    float[] a = new float[m * k];
    float[] b = new float[k * n];
    for (int i = 0; i < m; i++) {
      a[i * k] = -x;
      a[i * k + 1] = x;
    }
    java.util.Arrays.fill(b, x);
    float[] c = new float[m * n];
    nativeRowMajor(blas, false, false, m, n, k, 1f, a, 0, b, 0, 0f, c, 0);
    for (float v : c) {
      if (v == 0f) {
        return false;
      }
    }
    return true;
  }

  /**
   * What goes to JavaGemm, for {@link Blas#name()}: e.g. {@code GEMMs under 16384 multiply-adds
   * with n >= 4: Java GEMM}, or null if nothing does.
   */
  String describeJavaShare() {
    if (blas == null) {
      return null;
    }
    List<String> parts = new ArrayList<>();
    if (javaBelow == Long.MAX_VALUE) {
      parts.add("with n >= " + THIN);
    } else if (javaBelow > 0) {
      parts.add("under " + javaBelow + " multiply-adds with n >= " + THIN);
    }
    if (javaFrom < Long.MAX_VALUE) {
      parts.add("from " + javaFrom + " multiply-adds");
    }
    return parts.isEmpty() ? null : "GEMMs " + String.join(", or ", parts) + ": Java GEMM";
  }
}
