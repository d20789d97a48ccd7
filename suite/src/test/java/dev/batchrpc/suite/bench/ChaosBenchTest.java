package dev.batchrpc.suite.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.suite.bench.chaos.ChaosRun;
import dev.batchrpc.suite.bench.chaos.Fault;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code bench chaos}, short (issue 11, item 7): a deck of every fault kind, servers included,
 * against separate processes; no hang, no false success, no silent failure. The 10-minute run's
 * figures are in docs/fault-tolerance.md.
 */
class ChaosBenchTest {

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void everyKindOfFaultHitsSeparateProcessesAndNothingHangsOrLies(@TempDir Path dir) throws Exception {
    ChaosBench bench = new ChaosBench();
    // 12 faults at least: one whole deck, so every kind comes up; trainers finish runs of 300 rounds.
    // A fault every 3 s (five times the 10-minute run's rate) often restarts a server while its
    // participants churn: the stall limit is 60 s here (30 s in the 10-minute run); the failures it
    // guards against waited two minutes, ten, or forever.
    new CommandLine(bench).parseArgs("--duration-s", "42", "--fault-every-s", "3", "--seed", "11", "--stall-s", "60",
        "--trainers", "2", "--observers", "2", "--batches", "300", "--episodes", "40", "--steps", "50",
        "--heap-every-s", "0", "--out", dir.toString());
    bench.validate();
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    ChaosRun.Report r = bench.run(new PrintStream(buffer, true, StandardCharsets.UTF_8));
    String out = buffer.toString(StandardCharsets.UTF_8);
    System.out.println(out);

    assertThat(r.problems()).as(out).isEmpty();
    assertThat(r.passed()).isTrue();
    assertThat(r.faults().size()).as(out).isGreaterThanOrEqualTo(12);
    assertThat(r.faultCounts().keySet()).as(out).containsExactlyInAnyOrder(Fault.values());
    // both services worked through it, and were restarted after their kills
    assertThat(r.ps().progress()).isGreaterThan(300);
    assertThat(r.agent().progress()).isPositive();
    assertThat(r.ps().incarnations()).isGreaterThanOrEqualTo(2);
    assertThat(r.agent().incarnations()).isGreaterThanOrEqualTo(2);
    assertThat(r.ps().longestStallS()).isLessThanOrEqualTo(60);
    assertThat(r.agent().longestStallS()).isLessThanOrEqualTo(60);
    // trainers finished runs, each claim checked against the round log
    assertThat(r.count(ChaosRun.Outcome.VERIFIED)).as(out).isPositive();
    assertThat(r.count(ChaosRun.Outcome.FALSE_SUCCESS)).isZero();
    assertThat(r.count(ChaosRun.Outcome.FAILED_SILENTLY)).isZero();
    assertThat(out).contains("verdict: PASS");
    assertThat(Files.readAllLines(r.dir().resolve("faults.csv"))).hasSize(r.faults().size() + 1);
    assertThat(Files.readAllLines(r.dir().resolve("runs.csv"))).hasSize(r.runs().size() + 1);
    assertThat(Files.readAllLines(r.dir().resolve("ps-rounds.log"))).hasSizeGreaterThan((int) r.ps().progress());
  }

  @Test
  void badOptionsNameTheirFlag() {
    CommandLine cl = new CommandLine(new ChaosBench());
    java.io.StringWriter err = new java.io.StringWriter();
    cl.setErr(new java.io.PrintWriter(err));
    assertThat(cl.execute("--faults", "kill-everything", "--duration-s", "0")).isEqualTo(2);
    assertThat(err.toString()).contains("--faults: unknown fault 'kill-everything'").contains("--duration-s must be >= 1");
  }
}
