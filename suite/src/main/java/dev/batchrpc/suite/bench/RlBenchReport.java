package dev.batchrpc.suite.bench;

import dev.batchrpc.agent.LatencyLog;
import dev.batchrpc.suite.bench.rl.RlPlot;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code bench rl} writes and prints at the end: rl.csv (one line a run), rl-learning.csv (the
 * running reward after each episode), the tables of episode-loop time and latency per deployment
 * (medians over runs), the PyTorch reference's beside ours, the learning per seed, and rl.png.
 *
 * @param out the directory of the files
 * @param episodes timed episodes per run
 * @param steps steps per episode
 * @param deployments the deployments run, in order
 * @param runCounts the number of timed runs of each mode and world size per deployment (seeds x repeats)
 * @param referenceSeconds the PyTorch reference's episode-loop seconds by "worldSize mode" (empty without it)
 * @param referenceBlas the BLAS the reference's torch used
 * @param compute our BLAS or device
 */
record RlBenchReport(File out, int episodes, int steps, List<String> deployments, Map<String, Integer> runCounts,
    Map<String, Double> referenceSeconds, String referenceBlas, String compute) {

  /** One run's measurements. */
  record Result(String deployment, int worldSize, String mode, long seed, double loopSeconds,
      double runSeconds, double startupSeconds, LatencyLog.Summary latency, double[] runningRewards) {

    /** Actions the agent served in the timed episodes (one per observer and step) per episode-loop second. */
    double actionsPerSecond() {
      return latency.count() / loopSeconds;
    }
  }

  /** Writes rl.csv, rl-learning.csv and rl.png into {@code out} and prints the tables. */
  void write(List<Result> results, List<Integer> sizes) throws IOException {
    List<String> rows = new ArrayList<>();
    for (Result r : results) {
      Double ref = referenceSeconds.get(r.worldSize() + " " + r.mode());
      rows.add(BenchCsv.row("%s,%d,%s,%d,%d,%d,%.6f,%.6f,%.6f,%d,%.1f,%.1f,%.1f,%.1f,%.3f,\"%s\",%s,%s,\"%s\",%.0f",
          r.deployment(), r.worldSize(), r.mode(), r.seed(), episodes, steps, r.loopSeconds(), r.runSeconds(),
          r.startupSeconds(), r.latency().count(), r.latency().p50Us(), r.latency().p90Us(),
          r.latency().p99Us(), r.latency().maxUs(), r.runningRewards()[episodes - 1], compute,
          ref == null ? "" : BenchCsv.row("%.6f", ref), ref == null ? "" : BenchCsv.row("%.3f", ref / r.loopSeconds()),
          ref == null ? "" : referenceBlas, r.actionsPerSecond()));
    }
    BenchCsv.write(out.toPath(), "rl.csv", "deployment,world_size,mode,seed,episodes,steps,episode_loop_s,run_s,"
        + "startup_s,requests,p50_us,p90_us,p99_us,max_us,final_running_reward,compute,ref_episode_loop_s,x_ref,"
        + "ref_blas,actions_per_s", rows);
    StringBuilder h = new StringBuilder("deployment,world_size,mode,seed");
    for (int e = 1; e <= episodes; e++) {
      h.append(",running_reward_ep").append(e);
    }
    List<String> learning = new ArrayList<>();
    for (Result r : results) {
      StringBuilder b = new StringBuilder(r.deployment() + "," + r.worldSize() + "," + r.mode() + "," + r.seed());
      for (double v : r.runningRewards()) {
        b.append(BenchCsv.row(",%.3f", v));
      }
      learning.add(b.toString());
    }
    BenchCsv.write(out.toPath(), "rl-learning.csv", h.toString(), learning);
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    System.out.println();
    for (String d : deployments) {
      System.out.printf(Locale.ROOT, "%s (%s): episode-loop time, median over %d run(s) (seeds x repeats), %d episodes x %d steps%n",
          d, d.equals("inproc") ? "one process" : "one OS process per observer", runCounts.get(d), episodes, steps);
      System.out.println("world_size, batch_s, nobatch_s, batch_p50_us, batch_p99_us, nobatch_p50_us, nobatch_p99_us, "
          + "startup_s, batch_actions_per_s, nobatch_actions_per_s, x_batch, x_batch_pairs");
      for (int ws : sizes) {
        double[] b = stats(results, d, ws, "batch");
        double[] nb = stats(results, d, ws, "nobatch");
        if (Double.isNaN(b[0]) && Double.isNaN(nb[0])) {
          continue;
        }
        // Start-up: the first mode's (for procs it includes starting the observer processes).
        // x_batch: batch's actions/s over non-batch's (above 1: batching pays); x_batch_pairs: the
        // same ratio per pair of runs timed next to each other, its lowest and highest.
        System.out.printf(Locale.ROOT, "%d, %.3f, %.3f, %.0f, %.0f, %.0f, %.0f, %.2f, %.0f, %.0f, %.2f, %s%n", ws, b[0],
            nb[0], b[1], b[2], nb[1], nb[2], Math.max(Double.isNaN(b[3]) ? 0 : b[3], Double.isNaN(nb[3]) ? 0 : nb[3]),
            b[4], nb[4], b[4] / nb[4], pairRange(results, d, ws));
        for (String m : List.of("batch", "nobatch")) {
          double v = m.equals("batch") ? b[0] : nb[0];
          if (!Double.isNaN(v)) {
            series.computeIfAbsent(d + " " + m, k -> new ArrayList<>()).add(new double[] {ws, v});
          }
        }
      }
      System.out.println();
    }
    if (!referenceSeconds.isEmpty()) {
      System.out.printf(Locale.ROOT, "PyTorch reference (one process per rank, torch.distributed.rpc): episode-loop "
          + "time, %d episodes x %d steps; x = PyTorch's time over ours (above 1: we are faster)%n", episodes, steps);
      System.out.println("world_size, mode, pytorch_s, ours_inproc_s, x_inproc, ours_procs_s, x_procs");
      for (int ws : sizes) {
        for (String m : List.of("batch", "nobatch")) {
          Double ref = referenceSeconds.get(ws + " " + m);
          if (ref == null) {
            continue;
          }
          double in = stats(results, "inproc", ws, m)[0];
          double pr = stats(results, "procs", ws, m)[0];
          System.out.printf(Locale.ROOT, "%d, %s, %.3f, %.3f, %.2f, %.3f, %.2f%n", ws, m, ref, in, ref / in, pr,
              ref / pr);
        }
      }
      System.out.println("BLAS: ours " + compute + ", PyTorch " + referenceBlas);
      System.out.println();
    }
    System.out.println("learning: running reward after " + episodes + " episodes (per run)");
    System.out.println("deployment, world_size, mode, running_reward...");
    for (String d : deployments) {
      for (int ws : sizes) {
        for (String m : List.of("batch", "nobatch")) {
          StringBuilder b = new StringBuilder();
          for (Result r : results) {
            if (r.deployment().equals(d) && r.worldSize() == ws && r.mode().equals(m)) {
              b.append(String.format(Locale.ROOT, " %.1f", r.runningRewards()[episodes - 1]));
            }
          }
          if (b.length() > 0) {
            System.out.println(d + ", " + ws + ", " + m + "," + b);
          }
        }
      }
    }
    File png = new File(out, "rl.png");
    String figure = png.toString();
    try {
      RlPlot.write(png, "batch-rpc bench rl: " + episodes + " episodes x " + steps + " steps", series);
    } catch (Exception | Error e) {
      if (e instanceof VirtualMachineError && !(e instanceof InternalError)) {
        throw e;
      }
      // Text needs the JDK's font libraries (FreeType, fontconfig, fonts), which a bare machine (the
      // GPU bundle's) may lack: the figure is then left out, not the run.
      figure = "not " + png + " (the figure could not be drawn: " + e + ")";
    }
    System.out.println();
    System.out.println("wrote " + new File(out, "rl.csv") + ", " + new File(out, "rl-learning.csv") + ", " + figure);
  }

  /**
   * Batch's actions/s over non-batch's for each pair of runs timed next to each other (a seed's
   * k-th batch run with its k-th non-batch run: in the ABBA order, neighbours), as "lowest-highest
   * (batch ahead in n of m)"; "-" without a pair. The median ratio alone hides how much a rerun
   * moves it: across processes on two cores the pairs of one world size spread by 0.2 and more.
   */
  static String pairRange(List<Result> results, String d, int ws) {
    Map<Long, List<Result>> batch = new LinkedHashMap<>();
    Map<Long, List<Result>> nobatch = new LinkedHashMap<>();
    for (Result r : results) {
      if (r.deployment().equals(d) && r.worldSize() == ws) {
        (r.mode().equals("batch") ? batch : nobatch).computeIfAbsent(r.seed(), k -> new ArrayList<>()).add(r);
      }
    }
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    int pairs = 0;
    int ahead = 0;
    for (Map.Entry<Long, List<Result>> e : batch.entrySet()) {
      List<Result> other = nobatch.getOrDefault(e.getKey(), List.of());
      for (int i = 0; i < Math.min(e.getValue().size(), other.size()); i++) {
        double x = e.getValue().get(i).actionsPerSecond() / other.get(i).actionsPerSecond();
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
        pairs++;
        if (x >= 1) {
          ahead++;
        }
      }
    }
    return pairs == 0 ? "-" : String.format(Locale.ROOT, "%.2f-%.2f (batch ahead in %d of %d)", lo, hi, ahead, pairs);
  }

  /**
   * {median loop s, median p50 us, median p99 us, median start-up s, median actions/s} over runs,
   * NaN when absent.
   */
  private static double[] stats(List<Result> results, String d, int ws, String mode) {
    List<double[]> v = new ArrayList<>();
    for (Result r : results) {
      if (r.deployment().equals(d) && r.worldSize() == ws && r.mode().equals(mode)) {
        v.add(new double[] {r.loopSeconds(), r.latency().p50Us(), r.latency().p99Us(), r.startupSeconds(),
            r.actionsPerSecond()});
      }
    }
    if (v.isEmpty()) {
      return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
    }
    double[] out = new double[5];
    for (int k = 0; k < 5; k++) {
      double[] col = new double[v.size()];
      for (int i = 0; i < v.size(); i++) {
        col[i] = v.get(i)[k];
      }
      Arrays.sort(col);
      int mid = col.length / 2;
      // An even count's median is the mean of its two middle runs (two runs in ABBA order: their mean).
      out[k] = col.length % 2 == 1 ? col[mid] : (col[mid - 1] + col[mid]) / 2;
    }
    return out;
  }
}
