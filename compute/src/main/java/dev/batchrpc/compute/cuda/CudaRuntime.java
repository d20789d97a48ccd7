package dev.batchrpc.compute.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import jcuda.CudaException;
import jcuda.JCudaVersion;
import jcuda.LibUtils;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;

/**
 * Loads JCuda's natives once per process and says whether a CUDA GPU with cuBLAS is usable.
 *
 * <p>How the natives are loaded: JCuda's {@code LibUtils} extracts each native from its jar into
 * {@code java.io.tmpdir} under a fixed name and skips the extraction when that file already
 * exists. We point {@code java.io.tmpdir} at a private, per-process folder for the duration of
 * the load (then restore it), after writing into it our own {@code libJCublas2} — the original,
 * or on a cuBLAS 13 machine a copy renamed to need {@code libcublas.so.13} by {@link ElfPatcher}
 * — and load the located {@code libcublasLt}/{@code libcublas} by absolute path first, so
 * JCublas2's DT_NEEDED resolves to them by soname. Nothing is left in the shared temp folder.
 *
 * <p>Without a driver, the first JCuda call throws {@link UnsatisfiedLinkError}; every failure is
 * caught and cached as the probe's reason. Thread-safe: {@link #probe()} is synchronized.
 */
public final class CudaRuntime {

  /** The outcome of the one-time probe. */
  public record Probe(boolean available, String reason, int deviceCount, String deviceName,
                      String cublas) {
    /** One line for logs, {@code --help} and errors. */
    public String describe() {
      return available
          ? "CUDA available: " + deviceCount + " device(s), device 0 " + deviceName + "; " + cublas
          : "CUDA unavailable: " + reason;
    }
  }

  private static final System.Logger LOG = System.getLogger(CudaRuntime.class.getName());
  private static Probe probe;
  private static Path privateDir;

  private CudaRuntime() {
  }

  /** Loads the natives on first call and returns the cached answer afterwards. Never throws. */
  public static synchronized Probe probe() {
    if (probe == null) {
      probe = doProbe();
      LOG.log(System.Logger.Level.DEBUG, probe.describe());
    }
    return probe;
  }

  /** Throws {@link IllegalStateException} with the probe's reason when CUDA is unusable. */
  public static Probe require() {
    Probe p = probe();
    if (!p.available()) {
      throw new IllegalStateException("--device cuda: " + p.reason());
    }
    return p;
  }

  private static Probe doProbe() {
    String driverLib;
    try {
      driverLib = LibUtils.createLibraryFileName(
          LibUtils.createPlatformLibraryName("JCudaDriver-" + JCudaVersion.get()));
    } catch (Throwable t) {
      return unavailable("JCuda classes not usable: " + t);
    }
    try {
      privateDir = Files.createTempDirectory("batchrpc-jcuda-");
      Runtime.getRuntime().addShutdownHook(new Thread(CudaRuntime::deletePrivateDir,
          "batchrpc-jcuda-cleanup"));
    } catch (IOException | RuntimeException e) {
      return unavailable("cannot create a private folder for JCuda's natives: " + e);
    }
    String savedTmp = System.getProperty("java.io.tmpdir");
    System.setProperty("java.io.tmpdir", privateDir.toString());
    try {
      int count;
      String name;
      try {
        JCudaDriver.setExceptionsEnabled(true);
        JCudaDriver.cuInit(0);
        int[] n = new int[1];
        JCudaDriver.cuDeviceGetCount(n);
        count = n[0];
        if (count == 0) {
          return unavailable("no CUDA device (the driver loaded, cuDeviceGetCount = 0)");
        }
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, 0);
        byte[] nameBytes = new byte[256];
        JCudaDriver.cuDeviceGetName(nameBytes, nameBytes.length, dev);
        name = cString(nameBytes);
      } catch (UnsatisfiedLinkError e) {
        return unavailable("CUDA driver missing: " + driverLib + " could not be loaded ("
            + shortCause(e) + ")");
      } catch (CudaException e) {
        return unavailable("no usable CUDA device: " + e.getMessage());
      } catch (Throwable t) {
        return unavailable("CUDA driver initialisation failed: " + t);
      }
      CublasLocator.Result located = new CublasLocator().locate();
      if (located.found().isEmpty()) {
        return unavailable("cuBLAS not found: " + located.describe() + " (set " + CublasLocator.ENV
            + " or -D" + CublasLocator.PROPERTY + " to the folder holding libcublas.so.13)");
      }
      CublasLocator.Found f = located.found().get();
      try {
        installJCublas2(f.major());
        System.load(f.cublasLt().toString());
        System.load(f.cublas().toString());
        JCublas2.setExceptionsEnabled(true);
      } catch (Throwable t) {
        return unavailable("cuBLAS " + f.major() + " at " + f.cublas() + " could not be loaded ("
            + shortCause(t) + ")");
      }
      return new Probe(true, "", count, name, "cuBLAS " + f.major() + " at " + f.cublas());
    } finally {
      System.setProperty("java.io.tmpdir", savedTmp);
    }
  }

  /** Writes JCublas2's native into the private folder, renamed for cuBLAS 13 when needed. */
  private static void installJCublas2(int cublasMajor) throws IOException {
    String file = LibUtils.createLibraryFileName(
        LibUtils.createPlatformLibraryName("JCublas2-" + JCudaVersion.get()));
    byte[] original;
    try (InputStream in = LibUtils.class.getResourceAsStream("/lib/" + file)) {
      if (in == null) {
        throw new IOException("resource /lib/" + file + " not on the class path"
            + " (org.jcuda:jcublas-natives missing?)");
      }
      original = in.readAllBytes();
    }
    byte[] bytes = cublasMajor == 12 ? original
        : ElfPatcher.renameDependency(original, "libcublas.so.12", "libcublas.so." + cublasMajor);
    Files.write(privateDir.resolve(file), bytes);
  }

  private static Probe unavailable(String reason) {
    return new Probe(false, reason, 0, "", "");
  }

  /** The first line of the innermost cause: LibUtils' own message spans dozens of lines. */
  static String shortCause(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    String m = String.valueOf(c.getMessage());
    // LibUtils wraps the interesting line ("... libcuda.so.1: cannot open shared object file")
    // inside nested stack traces; prefer the line naming a shared object.
    for (String line : m.split("\n")) {
      if (line.contains(".so") && (line.contains("cannot open") || line.contains("not found")
          || line.contains("version"))) {
        return line.trim();
      }
    }
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  private static String cString(byte[] b) {
    int n = 0;
    while (n < b.length && b[n] != 0) {
      n++;
    }
    return new String(b, 0, n, java.nio.charset.StandardCharsets.UTF_8);
  }

  private static void deletePrivateDir() {
    Path d = privateDir;
    if (d == null) {
      return;
    }
    try (Stream<Path> s = Files.walk(d)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | RuntimeException e) {
      // Best effort at exit: a leftover folder in the temp dir is harmless.
    }
  }
}
