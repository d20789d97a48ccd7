package dev.batchrpc.suite.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A short {@code bench ps} run, its options, and the loopback-TCP baseline. */
class PsBenchTest {

  @TempDir
  Path dir;

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aFewInProcessRoundsOfATinyReplayModelPrintTheTableAndTheCsv() throws Exception {
    PrintStream stdout = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    int code;
    try (PrintStream tee = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
      System.setOut(tee);
      code = new CommandLine(new PsBench()).execute("--models", "replay", "--replay-params", "50000", "--modes",
          "inproc", "--trainers", "2", "--replay-rounds", "4", "--warmup", "1", "--loopback-reps", "3",
          "--device", "cpu", "--out", dir.toString());
    } finally {
      System.setOut(stdout);
    }
    String out = captured.toString(StandardCharsets.UTF_8);
    System.out.println(out);
    assertThat(code).isZero();
    assertThat(out).contains("loopback-TCP baseline of one round").contains("x loopback").contains("x baseline")
        .containsPattern("(?m)^replay\\s+inproc\\s+2\\s+50000\\s+4\\s+\\d");
    List<Path> csvs;
    try (var files = Files.list(dir)) {
      csvs = files.toList();
    }
    assertThat(csvs).hasSize(1);
    List<String> lines = Files.readAllLines(csvs.get(0));
    assertThat(lines.get(0)).contains("x_baseline,loopback_ms,x_loopback").contains("ref_rounds_per_s");
    String[] header = lines.get(0).split(",");
    String[] row = lines.get(1).split(",");
    assertThat(row[0]).isEqualTo("replay");
    int loopbackCol = List.of(header).indexOf("loopback_ms");
    int roundsPerS = List.of(header).indexOf("rounds_per_s");
    assertThat(Double.parseDouble(row[loopbackCol])).isPositive();
    assertThat(Double.parseDouble(row[roundsPerS])).isPositive();
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theLoopbackBaselineMovesTheRoundsBytesThroughAChildProcess() throws Exception {
    // 2 x 4 MB each way: well above one loopback round trip, well below a second
    double ms = LoopbackBaseline.measureMs(2, 1_000_000, 3);
    assertThat(ms).isGreaterThan(0.05).isLessThan(5_000);
  }

  @Test
  void badOptionsAreRefusedNamingTheFlag() {
    for (String[] args : List.of(new String[] {"--device", "tpu"}, new String[] {"--loopback-reps", "0"},
        new String[] {"--models", "resnet"}, new String[] {"--spin-us", "-1"}, new String[] {"--spin-us", "99999"})) {
      PrintStream stderr = System.err;
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      // picocli's usage errors (--device) go to the command line's error writer
      StringWriter cliErr = new StringWriter();
      int code;
      try (PrintStream p = new PrintStream(err, true, StandardCharsets.UTF_8)) {
        System.setErr(p);
        CommandLine cl = new CommandLine(new PsBench());
        cl.setErr(new PrintWriter(cliErr));
        code = cl.execute(args);
      } finally {
        System.setErr(stderr);
      }
      assertThat(code).as(String.join(" ", args)).isEqualTo(2);
      assertThat(err.toString(StandardCharsets.UTF_8) + cliErr).contains(args[0]);
    }
  }
}
