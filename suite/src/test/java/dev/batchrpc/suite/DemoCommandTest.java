package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code batch-rpc demo} end to end, in this JVM, at tiny sizes. */
class DemoCommandTest {

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void tinyDemoCompletesRoundsAndEpisodesAndPrintsTheSummary() {
    CommandRun run = CommandRun.of("demo", "--device", "cpu", "--metrics-port", "0",
        "--trainers", "3", "--rounds", "6", "--layers", "8,6,3", "--batch-size", "4", "--progress-every", "2",
        "--observers", "2", "--episodes", "2", "--steps", "20");
    assertThat(run.exit()).as(run.out()).isZero();
    assertThat(run.out())
        .contains("metrics on http://127.0.0.1:")
        .contains("ps     round    6/6")
        .contains("agent  episode   2/2")
        .contains("summary")
        .contains("6 rounds of 3 trainers (model v6)")
        // 2 episodes x 20 steps, one batched round per step, 2 actions each.
        .contains("batch mode: 40 rounds, 80 actions");
  }

  @Test
  void badSettingsAreRefusedNamingTheFlag() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit = Main.commandLine().setErr(new java.io.PrintWriter(err, true))
        .execute("demo", "--metrics-port", "70000");
    assertThat(exit).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("--metrics-port");
  }
}
