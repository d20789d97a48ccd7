package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.process.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code batch-rpc bench ps} end to end, as the launcher runs it (its own JVM, the command's
 * logging): a few rounds in one process and with one OS process per trainer. The table is real
 * (both modes measured), every trainer process finished, and nothing printed a stack trace.
 */
class BenchPsSmokeTest {

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void aFewRoundsInOneProcessAndOneProcessPerTrainerPrintTheTableAndNoStackTrace(@TempDir Path dir)
      throws Exception {
    String out;
    int code;
    try (ChildJvm bench = SuiteProcess.start("bench-ps", List.of("bench", "ps", "--models", "replay",
        "--replay-params", "2000", "--modes", "inproc,procs", "--trainers", "2", "--replay-rounds", "3",
        "--warmup", "1", "--loopback-reps", "1", "--out", dir.toString()), Map.of())) {
      code = bench.ended().get(280, TimeUnit.SECONDS);
      out = bench.output();
    }
    assertThat(code).as(out).isZero();
    for (String mode : List.of("inproc", "procs")) {
      Matcher row = Pattern.compile("(?m)^\\s*replay\\s+" + mode + "\\s+2\\s+2000\\s+3\\s+([0-9.]+)\\s").matcher(out);
      assertThat(row.find()).as("the table's %s row\n%s", mode, out).isTrue();
      assertThat(Double.parseDouble(row.group(1))).as("%s rounds/s", mode).isPositive();
    }
    // each trainer process ran its warm-up and measured rounds; replay has no loss to print
    assertThat(out).contains("trainer bench-0: done: 4 rounds, model v4").contains("trainer bench-1: done: 4 rounds")
        .doesNotContain("NaN");
    assertThat(out).as("a stack trace or an error in the output").doesNotContain("\tat ")
        .doesNotContainPattern("Exception|SEVERE");
    Matcher logs = Pattern.compile("trainer logs in (\\S+)").matcher(out);
    assertThat(logs.find()).as(out).isTrue();
    for (int i = 0; i < 2; i++) {
      String log = Files.readString(Path.of(logs.group(1), "bench-" + i + ".log"));
      assertThat(log).as("trainer bench-%d's log", i).contains("done: 4 rounds").doesNotContain("\tat ")
          .doesNotContainPattern("Exception|SEVERE");
    }
    try (var csv = Files.list(dir)) {
      List<Path> files = csv.toList();
      assertThat(files).hasSize(1);
      assertThat(Files.readAllLines(files.get(0))).hasSize(3);
    }
  }
}
