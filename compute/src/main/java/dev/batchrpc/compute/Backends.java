package dev.batchrpc.compute;

import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.cuda.CudaBackend;
import dev.batchrpc.compute.cuda.CudaRuntime;
import java.util.Locale;

/**
 * Chooses the {@link Backend} for the setting {@code --device auto|cpu|cuda}.
 *
 * <p>{@code auto} probes CUDA once per process (the answer is cached by {@link CudaRuntime}),
 * uses the GPU when JCuda, a device and cuBLAS all load, and otherwise falls back to the CPU,
 * logging which and why once. {@code cuda} insists on the GPU and fails with the reason. The
 * probe never throws: a missing driver surfaces as {@link UnsatisfiedLinkError} inside JCuda and
 * is turned into a reason string there.
 *
 * <p>Thread-safe: the probe and the one-time log are synchronized.
 */
public final class Backends {

  /** The values {@code --device} accepts. */
  public static final String ALLOWED = "auto, cpu, cuda";

  private static final System.Logger LOG = System.getLogger(Backends.class.getName());
  private static boolean autoLogged;

  private Backends() {
  }

  /**
   * A new backend for the device setting (case-insensitive, surrounding blanks ignored).
   *
   * @throws IllegalArgumentException for a value other than {@code auto}, {@code cpu}, {@code cuda}
   * @throws IllegalStateException for {@code cuda} when no usable GPU with cuBLAS is present
   */
  public static Backend select(String device) {
    String d = device == null ? "" : device.trim().toLowerCase(Locale.ROOT);
    switch (d) {
      case "cpu":
        return new CpuBackend();
      case "cuda":
        CudaRuntime.require();
        return new CudaBackend();
      case "auto":
        return selectAuto();
      default:
        throw new IllegalArgumentException("--device must be one of " + ALLOWED + ", got '"
            + device + "'");
    }
  }

  private static Backend selectAuto() {
    CudaRuntime.Probe probe = CudaRuntime.probe();
    String why = probe.reason();
    if (probe.available()) {
      try {
        Backend cuda = new CudaBackend();
        logOnce(System.Logger.Level.INFO, "--device auto: using " + cuda.name() + " ("
            + probe.cublas() + ")");
        return cuda;
      } catch (RuntimeException e) {
        why = "the CUDA backend failed to start: " + e.getMessage();
      }
    }
    Backend cpu = new CpuBackend();
    if (why.startsWith("CUDA driver missing")) {
      // The ordinary case on a machine without a GPU: say so in one short line, not as a warning.
      logOnce(System.Logger.Level.INFO, "--device auto: no CUDA driver on this machine, using "
          + cpu.name());
    } else {
      // A driver is there but something else failed: that deserves the whole reason.
      logOnce(System.Logger.Level.WARNING, "--device auto: falling back to " + cpu.name()
          + " because " + why);
    }
    return cpu;
  }

  private static synchronized void logOnce(System.Logger.Level level, String message) {
    if (!autoLogged) {
      autoLogged = true;
      LOG.log(level, message);
    }
  }

  /**
   * Why {@code auto} would pick what it picks, for {@code --help} and version output, e.g.
   * {@code device auto -> cuda (CUDA available: 1 device(s), device 0 NVIDIA H100 ...)} or
   * {@code device auto -> cpu (CUDA unavailable: CUDA driver missing: ...)}.
   */
  public static String probeReport() {
    CudaRuntime.Probe probe = CudaRuntime.probe();
    return "device auto -> " + (probe.available() ? "cuda" : "cpu") + " (" + probe.describe()
        + "); cpu BLAS: " + CpuBackend.blasName();
  }
}
