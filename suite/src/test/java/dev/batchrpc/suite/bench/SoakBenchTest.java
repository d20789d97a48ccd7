package dev.batchrpc.suite.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.batchrpc.suite.bench.soak.Completions;
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

/** {@code bench soak}, short: exactly-once completions of both kinds of round and a bounded heap. */
class SoakBenchTest {

  /** Above the warm-up level, the heap after GC at the end may grow by less than this (MB). */
  private static final double HEAP_BOUND_MB = 32;

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aShortSoakAnswersEveryRequestExactlyOnceAndTheHeapStaysBounded(@TempDir Path dir) throws Exception {
    SoakBench bench = new SoakBench();
    new CommandLine(bench).parseArgs("--duration-s", "8", "--sample-s", "1", "--warmup-s", "3",
        "--trainers", "3", "--params", "2000", "--observers", "2", "--steps", "50", "--out", dir.toString());
    bench.validate();
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    SoakBench.Report r = bench.soak(new PrintStream(buffer, true, StandardCharsets.UTF_8));
    String out = buffer.toString(StandardCharsets.UTF_8);

    assertThat(r.ps().rounds()).as(out).isPositive();
    assertThat(r.agent().rounds()).as(out).isPositive();
    assertThat(r.episodes()).as(out).isPositive();
    for (Completions c : List.of(r.ps(), r.agent())) {
      assertThat(c.sent()).as(out).isPositive().isEqualTo(c.answered());
      assertThat(c.failed()).as(out).isZero();
      assertThat(c.lost()).as(out).isZero();
      assertThat(c.doubled()).as(out).isZero();
      assertThat(c.badRounds()).as(out).isZero();
      assertThat(c.roundsChecked()).as(out).isEqualTo(c.rounds());
    }
    // every PS round answered all 3 trainers, every agent step round both observers
    assertThat(r.ps().answered()).isEqualTo(3 * r.ps().rounds());
    assertThat(r.agent().answered()).isEqualTo(2 * r.agent().rounds());
    assertThat(r.agent().rounds()).isEqualTo(50 * r.episodes());
    assertThat(r.samples()).hasSizeGreaterThanOrEqualTo(6);
    assertThat(r.endHeapMb()).as(out).isLessThan(r.warmupHeapMb() + HEAP_BOUND_MB);
    assertThat(out).contains("verdict:").contains("exactly-once: yes");
    assertThat(Files.readAllLines(r.csv())).hasSize(r.samples().size() + 2)
        .first().isEqualTo("seconds,heap_mb_after_gc,ps_rounds,agent_step_rounds,agent_episodes");
  }

  @Test
  void theSlopeIsTheLeastSquaresLineInMegabytesPerMinute() {
    List<SoakBench.Sample> rising = List.of(new SoakBench.Sample(0, 10, 0, 0, 0),
        new SoakBench.Sample(30, 10.4, 0, 0, 0), new SoakBench.Sample(60, 10.6, 0, 0, 0),
        new SoakBench.Sample(90, 11.4, 0, 0, 0));
    // sum((t - 45)(h - 10.6)) / sum((t - 45)^2) = 66 / 4500 MB/s: 0.88 MB per minute
    assertThat(SoakBench.slopeMbPerMin(rising)).isCloseTo(0.88, within(1e-9));
    List<SoakBench.Sample> flat = List.of(new SoakBench.Sample(10, 20, 0, 0, 0), new SoakBench.Sample(20, 21, 0, 0, 0),
        new SoakBench.Sample(30, 20, 0, 0, 0), new SoakBench.Sample(40, 21, 0, 0, 0), new SoakBench.Sample(50, 20, 0, 0, 0));
    assertThat(SoakBench.slopeMbPerMin(flat)).isCloseTo(0, within(1e-9));
  }

  @Test
  void badOptionsAreRefusedBeforeAnythingRuns() {
    for (String[] args : List.of(new String[] {"--duration-s", "0"}, new String[] {"--duration-s", "5", "--warmup-s", "5"},
        new String[] {"--sample-s", "0"}, new String[] {"--trainers", "0"}, new String[] {"--steps", "0"},
        new String[] {"--max-slope-mb-per-min", "0"}, new String[] {"--params", "-3"})) {
      StringWriter err = new StringWriter();
      int exit = new CommandLine(new SoakBench()).setErr(new PrintWriter(err)).execute(args);
      assertThat(exit).as(String.join(" ", args)).isEqualTo(2);
      assertThat(err.toString()).as(String.join(" ", args)).contains(args[args.length - 2]);
    }
  }
}
