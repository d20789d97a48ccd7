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
 *       ({@link JavaGemm}), {@code =netlib-java} netlib's Java BLAS, {@code =openblas} OpenBLAS
 *       for every call, without the dispatch below (the choice before it; for comparisons);</li>
 *   <li>if the user set netlib's {@code dev.ludovic.netlib.blas.nativeLib} (a library name for
 *       {@code dlopen}) or {@code dev.ludovic.netlib.blas.nativeLibPath} (a file), that native
 *       library is loaded as asked;</li>
 *   <li>otherwise OpenBLAS by its soname {@code libopenblas.so.0} (Debian's {@code libopenblas0}),
 *       accepted only if the library then mapped into the process is OpenBLAS;</li>
 *   <li>with OpenBLAS loaded, each call goes to OpenBLAS or to {@link JavaGemm} by its shape
 *       ({@link GemmDispatch}): calls of fewer than 16,384 multiply-adds (m n k) go to JavaGemm,
 *       except those with n below 4; when OpenBLAS's kernels are not fused
 *       ({@link GemmDispatch#fusedKernels}: it did not know the CPU and took its generic ones)
 *       every call with n from 4 does, and when OpenBLAS would run on threads of its own
 *       (OPENBLAS_NUM_THREADS unset or not 1) so do the calls from
 *       {@link GemmDispatch#OPENBLAS_THREADS_FROM} multiply-adds, which it would run on its pool:
 *       threaded calls serialize concurrent callers (5 MLP steps at once in one JVM ran 9-30x
 *       slower). {@code -Ddev.batchrpc.compute.blas.javaBelow=N} sets the bound instead. Why:
 *       Debian's OpenBLAS 0.3.21 does not know recent CPUs (family 6 model 207) and runs its
 *       generic Prescott kernels there, 2-4x slower than JavaGemm on the trainer's MLP shapes,
 *       where its SkylakeX kernels ({@code OPENBLAS_CORETYPE=SkylakeX}) are 1.1-5x faster than
 *       JavaGemm from 51,200 multiply-adds and slower below 6,000 (docs/benchmarks/compute.md,
 *       "Dispatch by shape");</li>
 *   <li>otherwise (a fresh machine) {@link JavaGemm} when the JVM runs with
 *       {@code --add-modules=jdk.incubator.vector} (as the launcher, the image and the tests do),
 *       else netlib's scalar Java BLAS (JavaGemm's scalar loops are 2x slower; without the Vector
 *       API there is no dispatch either: every call goes to the native BLAS when there is one).
 *       </li>
 * </ol>
 * The choice is logged once (System.Logger, INFO) and reported by {@link #name()}.
 *
 * <p>Thread safety: the selection is immutable and netlib's BLAS objects are stateless, so this
 * class may be used from any thread.
 */
public final class Blas {

  /** netlib's system property naming the native library to {@code dlopen}. */
  public static final String NATIVE_LIB = "dev.ludovic.netlib.blas.nativeLib";
  /** netlib's system property giving the native library's file path. */
  public static final String NATIVE_LIB_PATH = "dev.ludovic.netlib.blas.nativeLibPath";
  /**
   * Our override: {@code java} forces the Java GEMM (as on a machine without OpenBLAS),
   * {@code netlib-java} netlib's Java BLAS, {@code openblas} OpenBLAS for every call; anything
   * else (or unset) is automatic.
   */
  public static final String CHOICE = "dev.batchrpc.compute.blas";
  /**
   * With OpenBLAS loaded: calls of fewer multiply-adds (m n k) than this go to the Java GEMM,
   * instead of the bound measured at start.
   */
  public static final String JAVA_BELOW = "dev.batchrpc.compute.blas.javaBelow";

  private static final String OPENBLAS_SONAME = "libopenblas.so.0";
  private static final System.Logger LOG = System.getLogger(Blas.class.getName());

  private Blas() {
  }

  /** What {@link #select} chose: the dispatch and its name. */
  private record Choice(GemmDispatch dispatch, String name) {
  }

  /** Lazily selected on first use; class initialisation makes the selection happen exactly once. */
  private static final class Holder {
    static final Choice SELECTED = select();

    static {
      LOG.log(System.Logger.Level.INFO, "CPU BLAS in use: " + SELECTED.name);
    }
  }

  /**
   * The selected netlib BLAS instance, which takes some or all calls (see {@link #name()}), or
   * null when {@link JavaGemm} does every GEMM.
   */
  public static BLAS blas() {
    return Holder.SELECTED.dispatch.blas();
  }

  /**
   * A short name of the selected GEMM, e.g. {@code OpenBLAS (GEMMs under 51200 multiply-adds:
   * Java GEMM)} or {@code Java GEMM (Vector API, 16 floats wide, FMA)}.
   */
  public static String name() {
    return Holder.SELECTED.name;
  }

  /** The dispatch in use (for the tests). */
  static GemmDispatch dispatch() {
    return Holder.SELECTED.dispatch;
  }

  private static Choice select() {
    String choice = System.getProperty(CHOICE, "");
    if ("java".equalsIgnoreCase(choice)) {
      return java("forced by -D" + CHOICE + "=java");
    }
    if ("netlib-java".equalsIgnoreCase(choice)) {
      return netlibJava("forced by -D" + CHOICE + "=netlib-java");
    }
    boolean forceOpenBlas = "openblas".equalsIgnoreCase(choice);
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
      if (forceOpenBlas) {
        return every(nat, "OpenBLAS (every GEMM: -D" + CHOICE + "=openblas)");
      }
      return openBlas(nat);
    }
    if (nat != null && userChoice) {
      String lib = userPath != null ? userPath : userLib;
      LOG.log(System.Logger.Level.WARNING, "Using the native BLAS asked for (" + lib
          + "); it is not OpenBLAS, so it may be the slow reference BLAS");
      return every(nat, "native BLAS (" + lib + ")");
    }
    String why = nat == null ? OPENBLAS_SONAME + " not found"
        : "the native BLAS netlib loaded is not OpenBLAS" + (mapped == null ? "" : " (" + mapped
        + ")");
    if (forceOpenBlas) {
      LOG.log(System.Logger.Level.WARNING, "-D" + CHOICE + "=openblas, but " + why);
    }
    return java(why);
  }

  /** Every call to {@code blas}. */
  private static Choice every(BLAS blas, String name) {
    return new Choice(GemmDispatch.every(blas), name);
  }

  /** OpenBLAS loaded: each call to it or to JavaGemm by its shape. */
  private static Choice openBlas(NativeBLAS nat) {
    if (!JavaGemm.VECTOR) {
      return every(nat, "OpenBLAS");
    }
    int threads = openBlasThreads();
    long javaFrom = Long.MAX_VALUE;
    if (threads != 1) {
      javaFrom = GemmDispatch.OPENBLAS_THREADS_FROM;
      LOG.log(System.Logger.Level.WARNING, "OpenBLAS would run GEMMs of " + javaFrom
          + " multiply-adds and more on " + threads + " threads of its own, which serializes "
          + "concurrent callers: those go to the Java GEMM. Set OPENBLAS_NUM_THREADS=1 (the "
          + "launcher does) to give them to OpenBLAS on the caller's thread.");
    }
    String fixed = System.getProperty(JAVA_BELOW);
    boolean fused = GemmDispatch.fusedKernels(nat);
    long javaBelow;
    if (fixed != null) {
      javaBelow = javaBelow(fixed);
    } else if (fused || !JavaGemm.FUSED) {
      javaBelow = GemmDispatch.JAVA_BELOW_FUSED;
    } else {
      // an FMA CPU but kernels without FMA: OpenBLAS fell back to its generic ones
      javaBelow = Long.MAX_VALUE;
      LOG.log(System.Logger.Level.WARNING, "OpenBLAS runs SGEMM kernels without fused "
          + "multiply-adds on a CPU that has them: it did not recognize the CPU and took generic "
          + "kernels (Debian's 0.3.21 takes Prescott on family 6 model 207), 2-4x slower than the "
          + "Java GEMM here, so the Java GEMM takes every GEMM with n >= " + GemmDispatch.THIN
          + ". OPENBLAS_CORETYPE=SkylakeX (or Haswell) or a newer OpenBLAS gives it its fast "
          + "kernels back; OPENBLAS_VERBOSE=2 prints the one it took.");
    }
    GemmDispatch d = new GemmDispatch(nat, javaBelow, javaFrom);
    String share = d.describeJavaShare();
    return new Choice(d, share == null ? "OpenBLAS" : "OpenBLAS (" + share + ")");
  }

  /**
   * Parses {@code -D}{@value #JAVA_BELOW}: a whole number of multiply-adds, 0 or more.
   *
   * @throws IllegalArgumentException naming the property and the value, for anything else
   */
  static long javaBelow(String value) {
    try {
      long v = Long.parseLong(value.trim());
      if (v >= 0) {
        return v;
      }
    } catch (NumberFormatException e) {
      // named below
    }
    throw new IllegalArgumentException("-D" + JAVA_BELOW + " must be a whole number of multiply-adds (0 or more), got '"
        + value + "'");
  }

  /**
   * The threads OpenBLAS's pthreads build runs a large GEMM on: OPENBLAS_NUM_THREADS, else
   * GOTO_NUM_THREADS, else OMP_NUM_THREADS (the first positive one), else one per CPU.
   */
  static int openBlasThreads() {
    for (String v : new String[] {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"}) {
      String s = System.getenv(v);
      if (s == null) {
        continue;
      }
      try {
        int n = Integer.parseInt(s.trim());
        if (n > 0) {
          return n;
        }
      } catch (NumberFormatException e) {
        // as OpenBLAS: not a number counts as unset
      }
    }
    return Runtime.getRuntime().availableProcessors();
  }

  private static Choice java(String why) {
    if (!JavaGemm.VECTOR) {
      // JavaGemm's scalar fallback is 2x slower than netlib's scalar Java BLAS (measured 5.5 vs
      // 2.4 ms per MLP step): it is only worth it with SIMD
      return netlibJava(why + "; no Vector API (run with --add-modules=jdk.incubator.vector for "
          + "the faster Java GEMM)");
    }
    LOG.log(System.Logger.Level.INFO, "Not using a native BLAS: " + why);
    return new Choice(GemmDispatch.every(null), "Java GEMM (" + JavaGemm.describe() + ")");
  }

  private static Choice netlibJava(String why) {
    JavaBLAS j = JavaBLAS.getInstance();
    boolean vector = j.getClass().getSimpleName().startsWith("Vector");
    String name = vector ? "netlib Java Vector API BLAS"
        : "netlib scalar Java BLAS";
    LOG.log(System.Logger.Level.INFO, "Not using a native BLAS: " + why);
    return every(j, name);
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
   * <p>Each call goes to {@link JavaGemm} or to the native BLAS as {@link GemmDispatch} says (by
   * m n k only). netlib is column-major, and a row-major matrix read column-major is its
   * transpose, so a native call computes C^T = op(B)^T op(A)^T in column-major terms, without
   * copies (netlib's JNI pins the arrays). Bounds are the caller's duty (the callers check them,
   * with messages, before any write).
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
    Holder.SELECTED.dispatch.sgemm(transA, transB, m, n, k, alpha, a, aOff, b, bOff, beta, c,
        cOff);
  }
}
