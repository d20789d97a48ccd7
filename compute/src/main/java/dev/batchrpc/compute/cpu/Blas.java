package dev.batchrpc.compute.cpu;

import dev.ludovic.netlib.blas.BLAS;
import dev.ludovic.netlib.blas.JavaBLAS;
import dev.ludovic.netlib.blas.NativeBLAS;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The process-wide GEMM used by the CPU path, chosen once, and row-major SGEMM on plain arrays.
 *
 * <p>Choice, in order (netlib's own default would load whatever {@code libblas.so.3} is, which on
 * Debian is often the reference BLAS, 5-30x slower, so it is never taken silently):
 * <ol>
 *   <li>{@code -Ddev.batchrpc.compute.blas=java} forces this project's Java GEMM
 *       ({@link JavaGemm}), {@code =netlib-java} netlib's Java BLAS (for comparisons);</li>
 *   <li>if the user set netlib's {@code dev.ludovic.netlib.blas.nativeLib} (a library name for
 *       {@code dlopen}) or {@code dev.ludovic.netlib.blas.nativeLibPath} (a file), that native
 *       library is used as asked;</li>
 *   <li>otherwise OpenBLAS by its soname {@code libopenblas.so.0} (Debian's {@code libopenblas0}),
 *       accepted only if the library then mapped into the process is OpenBLAS;</li>
 *   <li>otherwise (a fresh machine) {@link JavaGemm} when the JVM runs with
 *       {@code --add-modules=jdk.incubator.vector} (as the launcher, the image and the tests do),
 *       else netlib's scalar Java BLAS (JavaGemm's scalar loops are 2x slower). For the trainer's
 *       MLP step JavaGemm is 5-6x faster than netlib's Java Vector API BLAS (which this chose
 *       before) and 1.7-2.3x slower than single-threaded OpenBLAS (docs/benchmarks/compute.md,
 *       "Fresh machine").</li>
 * </ol>
 * The choice is logged once (System.Logger, INFO) and reported by {@link #name()}.
 *
 * <p>Thread safety: the selected instance is immutable and netlib's BLAS objects are stateless, so
 * this class may be used from any thread.
 */
public final class Blas {

  /** netlib's system property naming the native library to {@code dlopen}. */
  public static final String NATIVE_LIB = "dev.ludovic.netlib.blas.nativeLib";
  /** netlib's system property giving the native library's file path. */
  public static final String NATIVE_LIB_PATH = "dev.ludovic.netlib.blas.nativeLibPath";
  /**
   * Our override: {@code java} forces the Java GEMM (as on a machine without OpenBLAS),
   * {@code netlib-java} netlib's Java BLAS; anything else (or unset) is automatic.
   */
  public static final String CHOICE = "dev.batchrpc.compute.blas";

  private static final String OPENBLAS_SONAME = "libopenblas.so.0";
  private static final System.Logger LOG = System.getLogger(Blas.class.getName());

  private Blas() {
  }

  /** Lazily selected on first use; class initialisation makes the selection happen exactly once. */
  private static final class Holder {
    static final BLAS BLAS_INSTANCE;
    static final String NAME;

    static {
      Object[] chosen = select();
      BLAS_INSTANCE = (BLAS) chosen[0];
      NAME = (String) chosen[1];
      LOG.log(System.Logger.Level.INFO, "CPU BLAS in use: " + NAME);
    }
  }

  /** The selected netlib BLAS instance, or null when {@link JavaGemm} does the GEMMs. */
  public static BLAS blas() {
    return Holder.BLAS_INSTANCE;
  }

  /**
   * A short name of the selected GEMM, e.g. {@code OpenBLAS} or
   * {@code Java GEMM (Vector API, 16 floats wide, FMA)}.
   */
  public static String name() {
    return Holder.NAME;
  }

  private static Object[] select() {
    String choice = System.getProperty(CHOICE, "");
    if ("java".equalsIgnoreCase(choice)) {
      return java("forced by -D" + CHOICE + "=java");
    }
    if ("netlib-java".equalsIgnoreCase(choice)) {
      return netlibJava("forced by -D" + CHOICE + "=netlib-java");
    }
    String userLib = System.getProperty(NATIVE_LIB);
    String userPath = System.getProperty(NATIVE_LIB_PATH);
    boolean userChoice = userLib != null || userPath != null;
    if (!userChoice) {
      System.setProperty(NATIVE_LIB, OPENBLAS_SONAME);
    }
    NativeBLAS nat;
    try {
      nat = NativeBLAS.getInstance();
    } catch (Throwable t) { // UnsatisfiedLinkError or netlib's RuntimeException: no such library
      nat = null;
    }
    String mapped = nat == null ? null : mappedBlasLibrary();
    if (nat != null && mapped != null && mapped.toLowerCase(Locale.ROOT).contains("openblas")) {
      return new Object[] {nat, "OpenBLAS"};
    }
    if (nat != null && userChoice) {
      String lib = userPath != null ? userPath : userLib;
      LOG.log(System.Logger.Level.WARNING, "Using the native BLAS asked for (" + lib
          + "); it is not OpenBLAS, so it may be the slow reference BLAS");
      return new Object[] {nat, "native BLAS (" + lib + ")"};
    }
    return java(nat == null ? OPENBLAS_SONAME + " not found"
        : "the native BLAS netlib loaded is not OpenBLAS" + (mapped == null ? "" : " (" + mapped
        + ")"));
  }

  private static Object[] java(String why) {
    if (!JavaGemm.VECTOR) {
      // JavaGemm's scalar fallback is 2x slower than netlib's scalar Java BLAS (measured 5.5 vs
      // 2.4 ms per MLP step): it is only worth it with SIMD
      return netlibJava(why + "; no Vector API (run with --add-modules=jdk.incubator.vector for "
          + "the faster Java GEMM)");
    }
    LOG.log(System.Logger.Level.INFO, "Not using a native BLAS: " + why);
    return new Object[] {null, "Java GEMM (" + JavaGemm.describe() + ")"};
  }

  private static Object[] netlibJava(String why) {
    JavaBLAS j = JavaBLAS.getInstance();
    boolean vector = j.getClass().getSimpleName().startsWith("Vector");
    String name = vector ? "netlib Java Vector API BLAS"
        : "netlib scalar Java BLAS";
    LOG.log(System.Logger.Level.INFO, "Not using a native BLAS: " + why);
    return new Object[] {j, name};
  }

  /** The file of a mapped shared library whose name mentions blas, from /proc/self/maps (Linux). */
  private static String mappedBlasLibrary() {
    try {
      List<String> lines = Files.readAllLines(Path.of("/proc/self/maps"));
      String found = null;
      for (String line : lines) {
        int slash = line.indexOf('/');
        if (slash < 0) {
          continue;
        }
        String file = line.substring(slash);
        String base = file.substring(file.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
        if (base.contains("blas") && !base.contains("netlibblasjni") && base.contains(".so")) {
          found = file;
          if (base.contains("openblas")) {
            return file;
          }
        }
      }
      return found;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * Row-major {@code C = alpha * op(A) * op(B) + beta * C} on plain arrays with offsets; op(A) is
   * m x k, op(B) is k x n, C is m x n (leading dimension n). A is stored m x k (k x m when
   * transposed) from {@code aOff}, B k x n (n x k when transposed) from {@code bOff}.
   *
   * <p>netlib is column-major, and a row-major matrix read column-major is its transpose, so this
   * computes C^T = op(B)^T op(A)^T in column-major terms. Bounds are the caller's duty (the
   * callers check them, with messages, before any write).
   */
  public static void sgemmRowMajor(boolean transA, boolean transB, int m, int n, int k,
                                   float alpha, float[] a, int aOff, float[] b, int bOff,
                                   float beta, float[] c, int cOff) {
    if (m == 0 || n == 0) {
      return;
    }
    if (k == 0 || alpha == 0f) {
      // BLAS rejects lda = k = 0; with no products C is just beta * C (beta 0 clears NaNs too).
      for (int i = 0; i < m * n; i++) {
        c[cOff + i] = beta == 0f ? 0f : beta * c[cOff + i];
      }
      return;
    }
    BLAS blas = blas();
    if (blas == null) {
      JavaGemm.sgemm(transA, transB, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff);
      return;
    }
    int ldb = transB ? k : n;
    int lda = transA ? m : k;
    blas.sgemm(transB ? "T" : "N", transA ? "T" : "N", n, m, k, alpha, b, bOff, ldb,
        a, aOff, lda, beta, c, cOff, n);
  }
}
