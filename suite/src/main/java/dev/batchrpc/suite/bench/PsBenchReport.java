package dev.batchrpc.suite.bench;

import dev.batchrpc.trainer.Trainer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/** What {@code bench ps} prints and writes: its phase lines, the table and the CSV. */
final class PsBenchReport {

  private PsBenchReport() {
  }

  /**
   * One measured configuration, with the baselines of its model (memory copy, loopback TCP) and
   * the PyTorch reference's rounds/s ({@code NaN} without {@code --reference}).
   */
  record Row(String model, String mode, int trainers, int params, int rounds, double seconds,
      double startupSeconds, double baselineMs, double loopbackMs, String backend, double refRoundsPerSecond,
      String refBlas) {
    double roundBytes() {
      return (trainers + 1.0) * params * 4;
    }

    double roundsPerSecond() {
      return rounds / seconds;
    }

    double mbPerSecond() {
      return roundBytes() * roundsPerSecond() / 1e6;
    }

    double roundMs() {
      return seconds * 1000 / rounds;
    }

    /** Our rounds/s over the reference's: above 1, we are faster. */
    double xReference() {
      return roundsPerSecond() / refRoundsPerSecond;
    }

    /** The line printed when the configuration is measured. */
    String summary(boolean reference) {
      return String.format(Locale.ROOT, "[bench ps] %s %s: %.1f rounds/s, %.0f MB/s, %.2f ms/round (%.1fx baseline, "
              + "%.1fx loopback)%s", model, mode, roundsPerSecond(), mbPerSecond(), roundMs(), roundMs() / baselineMs,
          roundMs() / loopbackMs, reference ? String.format(Locale.ROOT,
              "; PyTorch reference %.1f rounds/s, ours %.2fx", refRoundsPerSecond, xReference()) : "");
    }
  }

  /** The trainers' mean per-round phases (all rounds, warm-up included). */
  static void printTrainerPhases(List<Trainer.Summary> summaries) {
    double compute = 0;
    double update = 0;
    double load = 0;
    for (Trainer.Summary s : summaries) {
      compute += s.msPerRound(s.computeNanos()) / summaries.size();
      update += s.msPerRound(s.updateNanos()) / summaries.size();
      load += s.msPerRound(s.loadNanos()) / summaries.size();
    }
    System.out.printf(Locale.ROOT, "[bench ps]   trainer, mean per round: compute %.2f ms, update-and-fetch "
        + "%.2f ms, load %.2f ms%n", compute, update, load);
  }

  /** The server's phases from its meters (all rounds, warm-up included). */
  static void printServerPhases(MeterRegistry registry) {
    System.out.printf(Locale.ROOT, "[bench ps]   server, mean: round wait (first to last arrival) %.2f ms, "
        + "round compute %.2f ms = apply (average + SGD) %.2f ms + encode %.2f ms; finite check %.3f ms per "
        + "request%n", meanMs(registry, "ps.round.wait"), meanMs(registry, "ps.round.compute"),
        meanMs(registry, "ps.round.apply"), meanMs(registry, "ps.round.encode"),
        meanMs(registry, "ps.finite.check"));
  }

  private static double meanMs(MeterRegistry registry, String name) {
    Timer t = registry.find(name).timer();
    return t == null ? Double.NaN : t.mean(TimeUnit.MILLISECONDS);
  }

  /** The table; with {@code reference}, the PyTorch reference's columns too. */
  static void print(List<Row> rows, boolean reference) {
    System.out.println();
    System.out.printf(Locale.ROOT, "%-7s %-7s %8s %11s %7s %10s %10s %10s %12s %10s %12s %10s %10s", "model", "mode",
        "trainers", "params", "rounds", "rounds/s", "MB/s", "ms/round", "baseline ms", "x baseline", "loopback ms",
        "x loopback", "startup s");
    System.out.println(reference ? String.format(Locale.ROOT, " %12s %8s", "PyTorch r/s", "x PyTorch") : "");
    for (Row r : rows) {
      System.out.printf(Locale.ROOT, "%-7s %-7s %8d %11d %7d %10.1f %10.0f %10.2f %12.2f %10.1f %12.2f %10.1f %10.1f",
          r.model(), r.mode(), r.trainers(), r.params(), r.rounds(), r.roundsPerSecond(), r.mbPerSecond(),
          r.roundMs(), r.baselineMs(), r.roundMs() / r.baselineMs(), r.loopbackMs(), r.roundMs() / r.loopbackMs(),
          r.startupSeconds());
      System.out.println(reference ? String.format(Locale.ROOT, " %12.1f %8.2f", r.refRoundsPerSecond(),
          r.xReference()) : "");
    }
    System.out.println("(one round = N gradients in + one model out; x baseline: ms/round over one memory copy of "
        + "those bytes; x loopback: over the round's 2N messages through one loopback TCP socket between two "
        + "processes)");
    String ours = rows.isEmpty() ? "" : rows.get(0).backend();
    if (reference) {
      System.out.println("(x PyTorch: our rounds/s over the PyTorch RPC reference's, run in this run with the same "
          + "trainers and rounds, one process per trainer; BLAS: ours " + ours + ", PyTorch "
          + (rows.isEmpty() ? "" : rows.get(0).refBlas()) + ")");
    } else {
      System.out.println("(compute: " + ours + "; --reference runs the PyTorch RPC reference beside it)");
    }
  }

  /** Writes {@code ps-<time>.csv} into {@code out}; returns the file. */
  static Path write(Path out, List<Row> rows) throws IOException {
    return BenchCsv.write(out, BenchCsv.stamped("ps"), "model,mode,trainers,params,rounds,seconds,rounds_per_s,"
        + "mb_per_s,ms_per_round,baseline_ms,x_baseline,loopback_ms,x_loopback,startup_s,backend,ref_rounds_per_s,"
        + "x_ref,ref_blas", rows.stream().map(r -> {
          boolean ref = !Double.isNaN(r.refRoundsPerSecond());
          return BenchCsv.row("%s,%s,%d,%d,%d,%.4f,%.2f,%.1f,%.3f,%.3f,%.2f,%.3f,%.2f,%.2f,\"%s\",%s,%s,\"%s\"",
              r.model(), r.mode(), r.trainers(), r.params(), r.rounds(), r.seconds(), r.roundsPerSecond(),
              r.mbPerSecond(), r.roundMs(), r.baselineMs(), r.roundMs() / r.baselineMs(), r.loopbackMs(),
              r.roundMs() / r.loopbackMs(), r.startupSeconds(), r.backend(),
              ref ? BenchCsv.row("%.2f", r.refRoundsPerSecond()) : "",
              ref ? BenchCsv.row("%.3f", r.xReference()) : "", r.refBlas());
        }).toList());
  }
}
