package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.batchrpc.compute.cuda.CudaRuntime;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code bench ps|rl|soak --device}: a bad value, or {@code cuda} where CUDA does not load, is a
 * one-line usage error naming the flag and the reason (exit 2), before the bench runs anything.
 */
class BenchDeviceOptionTest {

  @TempDir
  Path dir;

  /** The exit code, standard output and standard error of {@code batch-rpc args...}. */
  private record Run(int exit, String out, String err) {
  }

  private Run run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    StringWriter err = new StringWriter();
    PrintStream original = System.out;
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      CommandLine cl = Main.commandLine();
      cl.setErr(new PrintWriter(err, true));
      int exit = cl.execute(args);
      return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString());
    } finally {
      System.setOut(original);
    }
  }

  private List<String> bench(String name, String device) {
    List<String> args = new ArrayList<>(List.of("bench", name, "--device", device, "--out", dir.toString()));
    // the smallest run of each, should the check let one through
    switch (name) {
      case "ps" -> args.addAll(List.of("--models", "mlp", "--modes", "inproc", "--rounds", "1", "--warmup", "0"));
      case "rl" -> args.addAll(List.of("--world-sizes", "2", "--deployments", "inproc", "--episodes", "1",
          "--steps", "2", "--warmup-episodes", "0"));
      default -> args.addAll(List.of("--duration-s", "2", "--warmup-s", "0", "--sample-s", "1"));
    }
    return args;
  }

  @Test
  void cudaWithoutAGpuIsAUsageErrorNamingTheFlagAndTheReasonBeforeAnythingRuns() {
    CudaRuntime.Probe probe = CudaRuntime.probe();
    assumeFalse(probe.available(), "this machine has a usable GPU");
    for (String name : List.of("ps", "rl", "soak")) {
      Run r = run(bench(name, "cuda").toArray(String[]::new));
      assertThat(r.exit()).as("bench %s exit code; err: %s", name, r.err()).isEqualTo(2);
      assertThat(r.err()).as("bench " + name)
          .startsWith("batch-rpc bench " + name + ": --device cuda: " + probe.reason())
          .doesNotContain("Exception")
          .doesNotContain("\tat ");
      // nothing ran: no baseline, no progress line, no report
      assertThat(r.out()).as("bench " + name).isEmpty();
      assertThat(dir).isEmptyDirectory();
    }
  }

  @Test
  void anUnknownDeviceIsAUsageErrorNamingTheFlag() {
    for (String name : List.of("ps", "rl", "soak")) {
      Run r = run(bench(name, "gpu").toArray(String[]::new));
      assertThat(r.exit()).as("bench %s exit code; err: %s", name, r.err()).isEqualTo(2);
      assertThat(r.err()).as("bench " + name)
          .startsWith("batch-rpc bench " + name + ": --device must be one of auto, cpu, cuda, got 'gpu'");
      assertThat(r.out()).as("bench " + name).isEmpty();
    }
  }
}
