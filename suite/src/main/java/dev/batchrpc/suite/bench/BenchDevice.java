package dev.batchrpc.suite.bench;

import dev.batchrpc.compute.cuda.CudaRuntime;
import dev.batchrpc.runtime.cli.DeviceOption;
import java.util.Locale;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/**
 * The benchmarks' {@code --device}, checked before a bench starts anything: a value other than
 * auto, cpu or cuda, or {@code cuda} on a machine where CUDA does not load, is a usage error
 * (exit 2) that names {@code --device} and the reason (driver missing, no device, cuBLAS not
 * found), not a stack trace from the first server or agent deployed after the baselines ran.
 */
final class BenchDevice {

  private BenchDevice() {
  }

  /**
   * Checks {@code device} (case-insensitive, blanks around ignored).
   *
   * @throws ParameterException for a bad value, or for {@code cuda} when the CUDA probe fails
   */
  static void check(CommandSpec spec, String device) {
    String d = device == null ? "" : device.trim().toLowerCase(Locale.ROOT);
    if (!DeviceOption.VALUES.contains(d)) {
      throw new ParameterException(spec.commandLine(), "--device must be one of "
          + String.join(", ", DeviceOption.VALUES) + ", got '" + device + "'");
    }
    if (d.equals("cuda")) {
      try {
        CudaRuntime.require();
      } catch (IllegalStateException e) {
        // "--device cuda: <the probe's reason>"
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
    }
  }
}
