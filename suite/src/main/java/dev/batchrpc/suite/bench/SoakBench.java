package dev.batchrpc.suite.bench;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.suite.bench.soak.AgentLoad;
import dev.batchrpc.suite.bench.soak.Completions;
import dev.batchrpc.suite.bench.soak.HeapSampler;
import dev.batchrpc.suite.bench.soak.PsLoad;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc bench soak}: both kinds of round, continuously, in one process, for a given
 * time: parameter-server rounds of N trainers (a replay model) and agent episodes of M observers
 * in batch mode. Every few seconds it samples the heap in use after a full GC; at the end it
 * reports the samples, the heap's slope after the warm-up (least squares, MB per minute) with a
 * verdict, the rounds per second, and whether every request got exactly one completion.
 *
 * <p>Exactly-once: every update request and every action request is counted when sent and when
 * answered. A parameter-server round is checked once it can no longer receive replies (the round
 * two versions later has begun: every trainer had to receive it first): exactly N trainers got
 * its model. An agent episode is checked when it ends: every step got exactly M answers of a
 * round of M. A reply for a round already checked counts as doubled; a request never answered by
 * the end of the drain counts as lost.
 *
 * <p>Exit status: 0 when nothing was lost, doubled or failed and the heap is flat; 1 otherwise;
 * 2 for invalid options.
 */
@Command(name = "soak", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Soak test in one process: parameter-server rounds (--trainers, a replay model of --params)",
        "and agent episodes (--observers, batch mode) run continuously for --duration-s while the",
        "heap after a full GC is sampled every --sample-s. Prints the samples, the heap's slope after",
        "--warmup-s and a verdict, rounds/s, and every request's completion count; writes CSV.",
        "Exits 1 on a lost, doubled or failed completion or a growing heap.",
        ""})
public final class SoakBench implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Option(names = "--duration-s", defaultValue = "60",
      description = "How long the rounds run, in seconds. Default: ${DEFAULT-VALUE}.")
  int durationS;

  @Option(names = "--warmup-s", defaultValue = "15",
      description = "Samples before this second are left out of the slope (JIT, buffers, pools). "
          + "Default: ${DEFAULT-VALUE}.")
  int warmupS;

  @Option(names = "--sample-s", defaultValue = "5",
      description = "Seconds between heap samples (each after a full GC). Default: ${DEFAULT-VALUE}.")
  int sampleS;

  @Option(names = "--trainers", defaultValue = "5",
      description = "Trainers per parameter-server round. Default: ${DEFAULT-VALUE}.")
  int trainers;

  @Option(names = "--params", defaultValue = "10000",
      description = "Parameters of the replay model the server holds. Default: ${DEFAULT-VALUE}.")
  int params;

  @Option(names = "--observers", defaultValue = "4",
      description = "Observers of the agent (batch mode: one round of all per step). Default: ${DEFAULT-VALUE}.")
  int observers;

  @Option(names = "--steps", defaultValue = "200",
      description = "Steps per agent episode. Default: ${DEFAULT-VALUE}.")
  int steps;

  @Option(names = "--max-slope-mb-per-min", defaultValue = "1.0",
      description = "The heap is flat when its slope after the warm-up is below this. Default: ${DEFAULT-VALUE}.")
  double maxSlope;

  @Option(names = "--device", defaultValue = "cpu",
      description = "auto, cpu or cuda, for the server and the agent. Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--out", defaultValue = "bench-results",
      description = "Directory for the CSV of the samples. Default: ${DEFAULT-VALUE}.")
  Path out;

  /** One heap sample. */
  public record Sample(double seconds, double heapMb, long psRounds, long agentStepRounds, long episodes) {
  }

  /** What a soak run measured. */
  public record Report(double seconds, List<Sample> samples, double warmupHeapMb, double endHeapMb,
      double slopeMbPerMin, int slopeSamples, boolean flat, Completions ps, Completions agent, long episodes,
      Path csv) {
    /** Exit status 0: exact completions on both sides and a flat heap. */
    public boolean passed() {
      return ps.exact() && agent.exact() && flat;
    }
  }

  @Override
  public Integer call() throws Exception {
    validate();
    Report r = soak(System.out);
    return r.passed() ? 0 : 1;
  }

  /** Checks the options; a bad one is a usage error (exit 2) naming the flag. */
  void validate() {
    List<String> problems = new ArrayList<>();
    if (durationS < 1) {
      problems.add("--duration-s must be >= 1, got " + durationS);
    }
    if (sampleS < 1) {
      problems.add("--sample-s must be >= 1, got " + sampleS);
    }
    if (warmupS < 0 || warmupS >= durationS) {
      problems.add("--warmup-s must be >= 0 and below --duration-s, got " + warmupS);
    }
    if (trainers < 1 || observers < 1) {
      problems.add("--trainers and --observers must be >= 1, got " + trainers + " and " + observers);
    }
    if (params < 1) {
      problems.add("--params must be >= 1, got " + params);
    }
    if (steps < 1 || steps > Addresses.MAX_EPISODE_STEPS) {
      problems.add("--steps must be 1 to " + Addresses.MAX_EPISODE_STEPS + ", got " + steps);
    }
    if (!(maxSlope > 0)) {
      problems.add("--max-slope-mb-per-min must be > 0, got " + maxSlope);
    }
    if (!problems.isEmpty()) {
      throw new ParameterException(spec.commandLine(), String.join("; ", problems));
    }
    BenchDevice.check(spec, device);
  }

  /**
   * Runs the soak and prints its progress and report.
   *
   * @param out where the lines go
   * @return the measurements
   */
  public Report soak(PrintStream out) throws Exception {
    Node node = Nodes.start(NodeConfig.local()).await();
    try {
      Vertx vertx = node.vertx();
      ProtobufCodec.register(vertx);
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < trainers; i++) {
        ids.add("soak-trainer-" + i);
      }
      PsConfig psConfig = PsConfig.builder(trainers, ModelSpec.replay(params)).participants(ids).device(device)
          .build();
      vertx.deployVerticle(new ParameterServerVerticle(psConfig, null)).await();
      AgentConfig agentConfig = AgentConfig.of(observers, AgentMode.BATCH, 543)
          .withTraining(1.0, AgentConfig.DEFAULT_LR, device);
      AgentVerticle agent = new AgentVerticle(agentConfig, null);
      vertx.deployVerticle(agent).await();
      // All of the load's bookkeeping lives on this one context (see PsLoad and AgentLoad).
      Context driver = vertx.getOrCreateContext();
      AgentLoad agentLoad = new AgentLoad(driver, agent, observers, steps);
      for (int i = 0; i < observers; i++) {
        ObserverConfig oc = ObserverConfig.of(i, 543);
        vertx.deployVerticle(new ObserverVerticle(oc, agentLoad.actions(vertx))).await();
      }
      agent.observersReady().await(60, TimeUnit.SECONDS);
      PsLoad psLoad = new PsLoad(vertx, ids, params);
      out.printf(Locale.ROOT, "[bench soak] %d s: parameter server with %d trainers (replay, %d parameters), "
          + "agent with %d observers x %d steps (batch); heap sampled every %d s after a full GC, slope after %d s%n",
          durationS, trainers, params, observers, steps, sampleS, warmupS);

      long t0 = System.nanoTime();
      driver.runOnContext(v -> {
        psLoad.start();
        agentLoad.start();
      });
      List<Sample> samples = new ArrayList<>();
      long end = t0 + TimeUnit.SECONDS.toNanos(durationS);
      long next = t0;
      while (true) {
        next += TimeUnit.SECONDS.toNanos(sampleS);
        long now = System.nanoTime();
        if (next > end) {
          break;
        }
        TimeUnit.NANOSECONDS.sleep(next - now);
        Sample s = new Sample((System.nanoTime() - t0) / 1e9, HeapSampler.heapAfterGcMb(), psLoad.rounds(),
            agentLoad.stepRounds(), agentLoad.episodes());
        samples.add(s);
        out.printf(Locale.ROOT, "[bench soak] %5.0f s  heap %7.2f MB  ps %7d rounds (%6.1f/s)  agent %5d episodes, "
                + "%7d step rounds (%6.1f/s)%n", s.seconds(), s.heapMb(), s.psRounds(), s.psRounds() / s.seconds(),
            s.episodes(), s.agentStepRounds(), s.agentStepRounds() / s.seconds());
      }
      TimeUnit.NANOSECONDS.sleep(Math.max(0, end - System.nanoTime()));
      double seconds = (System.nanoTime() - t0) / 1e9;
      // Stop at round boundaries, then wait for everything in flight (a lost reply would wait forever).
      Promise<Void> psDone = Promise.promise();
      Promise<Void> agentDone = Promise.promise();
      driver.runOnContext(v -> {
        psLoad.stop().onComplete(psDone);
        agentLoad.stop().onComplete(agentDone);
      });
      boolean drained = awaitQuietly(psDone.future(), 60) & awaitQuietly(agentDone.future(), 60);
      Completions ps = onContext(driver, psLoad::completions);
      Completions ag = onContext(driver, agentLoad::completions);
      long episodes = agentLoad.episodes();
      Sample last = new Sample(seconds, HeapSampler.heapAfterGcMb(), ps.rounds(), ag.rounds(), episodes);
      Report report = report(seconds, samples, last, ps, ag, episodes);
      print(out, report, drained);
      return report;
    } finally {
      node.close().await(30, TimeUnit.SECONDS);
    }
  }

  private static boolean awaitQuietly(Future<Void> f, int seconds) throws InterruptedException {
    try {
      f.await(seconds, TimeUnit.SECONDS);
      return true;
    } catch (java.util.concurrent.TimeoutException e) {
      return false;
    }
  }

  private static <T> T onContext(Context context, Callable<T> read) throws Exception {
    Promise<T> p = Promise.promise();
    context.runOnContext(v -> {
      try {
        p.complete(read.call());
      } catch (Exception e) {
        p.fail(e);
      }
    });
    return p.future().await(10, TimeUnit.SECONDS);
  }

  private Report report(double seconds, List<Sample> samples, Sample last, Completions ps, Completions agent,
                        long episodes) throws IOException {
    List<Sample> all = new ArrayList<>(samples);
    all.add(last);
    List<Sample> measured = all.stream().filter(s -> s.seconds() >= warmupS).toList();
    double slope = measured.size() < 2 ? Double.NaN : slopeMbPerMin(measured);
    double warm = measured.isEmpty() ? Double.NaN : measured.get(0).heapMb();
    boolean flat = !Double.isNaN(slope) && slope < maxSlope;
    Path csv = writeCsv(all);
    return new Report(seconds, List.copyOf(samples), warm, last.heapMb(), slope, measured.size(), flat, ps, agent,
        episodes, csv);
  }

  /** Least-squares slope of heap against time, in MB per minute. */
  static double slopeMbPerMin(List<Sample> samples) {
    return HeapSampler.slopeMbPerMin(samples.stream().mapToDouble(Sample::seconds).toArray(),
        samples.stream().mapToDouble(Sample::heapMb).toArray());
  }

  private void print(PrintStream out, Report r, boolean drained) {
    out.println();
    out.printf(Locale.ROOT, "%8s %10s %11s %13s %9s%n", "t s", "heap MB", "ps rounds", "agent steps", "episodes");
    for (Sample s : r.samples()) {
      out.printf(Locale.ROOT, "%8.0f %10.2f %11d %13d %9d%n", s.seconds(), s.heapMb(), s.psRounds(),
          s.agentStepRounds(), s.episodes());
    }
    out.printf(Locale.ROOT, "%8.0f %10.2f %11d %13d %9d   (end, after the drain)%n", r.seconds(), r.endHeapMb(),
        r.ps().rounds(), r.agent().rounds(), r.episodes());
    out.println();
    out.printf(Locale.ROOT, "heap after GC: %.2f MB at the warm-up's end, %.2f MB at the end; slope %+.3f MB/min over "
            + "%d samples from %d s: %s (threshold %.2f MB/min)%n", r.warmupHeapMb(), r.endHeapMb(),
        r.slopeMbPerMin(), r.slopeSamples(), warmupS, r.flat() ? "FLAT" : "GROWING", maxSlope);
    printCompletions(out, "ps rounds  ", r.ps(), r.seconds(), trainers, "trainers");
    printCompletions(out, "agent steps", r.agent(), r.seconds(), observers, "observers");
    out.printf(Locale.ROOT, "agent episodes: %d (%.2f/s)%n", r.episodes(), r.episodes() / r.seconds());
    if (!drained) {
      out.println("NOT DRAINED: requests were still unanswered 60 s after the stop (counted as lost)");
    }
    out.println("verdict: " + (r.passed() ? "PASS" : "FAIL") + " (exactly-once: "
        + (r.ps().exact() && r.agent().exact() ? "yes" : "NO") + "; heap: " + (r.flat() ? "flat" : "GROWING") + ")");
    out.println("CSV: " + r.csv().toAbsolutePath());
  }

  private static void printCompletions(PrintStream out, String what, Completions c, double seconds, int size,
                                       String who) {
    out.printf(Locale.ROOT, "%s: %d rounds (%.1f/s) of %d %s; %d requests sent, %d answered, %d failed, %d lost, "
            + "%d doubled; %d rounds checked whole, %d not%n", what, c.rounds(), c.rounds() / seconds, size, who,
        c.sent(), c.answered(), c.failed(), c.lost(), c.doubled(), c.roundsChecked(), c.badRounds());
  }

  private Path writeCsv(List<Sample> samples) throws IOException {
    return BenchCsv.write(out, BenchCsv.stamped("soak"), "seconds,heap_mb_after_gc,ps_rounds,agent_step_rounds,"
        + "agent_episodes", samples.stream().map(s -> BenchCsv.row("%.2f,%.3f,%d,%d,%d", s.seconds(), s.heapMb(),
        s.psRounds(), s.agentStepRounds(), s.episodes())).toList());
  }
}
