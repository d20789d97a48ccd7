package dev.batchrpc.suite.bench;

import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import dev.batchrpc.trainer.ClassificationTask;
import dev.batchrpc.trainer.GradientTask;
import dev.batchrpc.trainer.PsClient;
import dev.batchrpc.trainer.ReplayTask;
import dev.batchrpc.trainer.Trainer;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc bench ps}: rounds/s and MB/s of the batch-updating parameter server with N
 * trainers, for an MLP (trainers compute real gradients: the tutorial's random-input MSE task) and
 * a {@code replay} model (trainers send a fixed pre-made gradient, so the server and transport
 * alone are measured), each in one process and with one OS process per trainer clustered on
 * loopback; beside a memory-copy baseline of one round's bytes measured in the same run.
 *
 * <p>Timing: rounds are timed on the server, from the end of the last warm-up round to the end of
 * the last measured round (JVM start, cluster join and the first fetch are excluded and reported
 * as "startup"). One round's bytes are N gradients in plus one model out, (N+1)·P·4.
 */
@Command(name = "ps", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Benchmarks the batch-updating parameter server (see 'ps' and 'trainer').", ""})
public final class PsBench implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Option(names = "--rounds", defaultValue = "200",
      description = "Measured rounds for the mlp model. Default: ${DEFAULT-VALUE}.")
  int rounds;

  @Option(names = "--replay-rounds", defaultValue = "10",
      description = "Measured rounds for the replay model. Default: ${DEFAULT-VALUE}.")
  int replayRounds;

  @Option(names = "--warmup", defaultValue = "5",
      description = "Untimed rounds before measuring (JIT, buffers). Default: ${DEFAULT-VALUE}.")
  int warmup;

  @Option(names = "--trainers", defaultValue = "5", description = "Trainers per round. Default: ${DEFAULT-VALUE}.")
  int trainers;

  @Option(names = "--models", split = ",", defaultValue = "mlp,replay",
      description = "Models: mlp (784-256-10, batch --batch-size) and/or replay. Default: ${DEFAULT-VALUE}.")
  List<String> models;

  @Option(names = "--modes", split = ",", defaultValue = "inproc,procs",
      description = "inproc (server and trainers in this JVM) and/or procs (one OS process per "
          + "trainer, clustered on 127.0.0.1). Default: ${DEFAULT-VALUE}.")
  List<String> modes;

  @Option(names = "--batch-size", defaultValue = "20", description = "MLP batch size. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--replay-params", defaultValue = "23569502",
      description = "Replay model size (default: ResNet-50's). Default: ${DEFAULT-VALUE}.")
  int replayParams;

  @Option(names = "--trainer-heap", defaultValue = "512m",
      description = "-Xmx of each trainer process. Default: ${DEFAULT-VALUE}.")
  String trainerHeap;

  @Option(names = "--trainer-java-opts", defaultValue = "${env:BATCHRPC_TRAINER_JAVA_OPTS:-}",
      description = "Extra JVM options of each trainer process, space-separated (e.g. a JFR "
          + "recording). Env BATCHRPC_TRAINER_JAVA_OPTS.")
  String trainerJavaOpts;

  @Option(names = "--device", defaultValue = "cpu",
      description = "The server's compute device: cpu, cuda or auto (the GPU when one loads). "
          + "Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--reference",
      description = "Also run the PyTorch reference (tools/reference/ps_reference.py: the tutorial's "
          + "server, torch.distributed.rpc, one process per trainer) with the same trainers, rounds "
          + "and model, and print its rounds/s and the ratio beside ours. Needs Debian's "
          + "/usr/bin/python3 with python3-torch.")
  boolean reference;

  @Option(names = "--loopback-reps", defaultValue = "5",
      description = "Timed repetitions of the loopback-TCP baseline (median). Default: ${DEFAULT-VALUE}.")
  int loopbackReps;

  @Option(names = "--out", defaultValue = "bench-results",
      description = "Directory for the CSV file. Default: ${DEFAULT-VALUE}.")
  Path out;

  private static final String LOOPBACK = "127.0.0.1";
  private static final int[] MLP = {784, 256, 10};

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
  }

  /** The baselines and the reference of one model, measured once per run. */
  private record Baselines(double copyMs, double loopbackMs, double refRoundsPerSecond, String refBlas) {
  }

  @Override
  public Integer call() throws Exception {
    return ChildWatch.reportingDeaths(spec, "batch-rpc bench ps", this::run);
  }

  private int run() throws Exception {
    for (String m : models) {
      if (!m.equals("mlp") && !m.equals("replay")) {
        System.err.println("batch-rpc bench ps: --models takes mlp and/or replay, got '" + m + "'");
        return 2;
      }
    }
    for (String m : modes) {
      if (!m.equals("inproc") && !m.equals("procs")) {
        System.err.println("batch-rpc bench ps: --modes takes inproc and/or procs, got '" + m + "'");
        return 2;
      }
    }
    if (rounds < 1 || replayRounds < 1 || warmup < 0 || trainers < 1 || batchSize < 1 || loopbackReps < 1) {
      System.err.println("batch-rpc bench ps: --rounds, --replay-rounds, --trainers, --batch-size and "
          + "--loopback-reps must be >= 1, --warmup >= 0");
      return 2;
    }
    if (!List.of("cpu", "cuda", "auto").contains(device)) {
      System.err.println("batch-rpc bench ps: --device takes cpu, cuda or auto, got '" + device + "'");
      return 2;
    }
    Path script = null;
    if (reference) {
      try {
        script = Reference.require("ps_reference.py");
      } catch (IllegalStateException e) {
        System.err.println("batch-rpc bench ps: " + e.getMessage());
        return 2;
      }
    }
    System.setProperty("hazelcast.wait.seconds.before.join", "0");
    List<Row> rows = new ArrayList<>();
    for (String model : models) {
      ModelSpec spec = model.equals("mlp") ? ModelSpec.mlp(MLP) : ModelSpec.replay(replayParams);
      int n = model.equals("mlp") ? rounds : replayRounds;
      double copy = baselineMs(spec.parameterCount());
      System.out.printf(Locale.ROOT, "[bench ps] %s: %d parameters; memory-copy baseline of one round "
          + "(%d x %.1f MB) %.2f ms%n", model, spec.parameterCount(), trainers + 1,
          spec.parameterCount() * 4 / 1e6, copy);
      double loopback = LoopbackBaseline.measureMs(trainers, spec.parameterCount(), loopbackReps);
      System.out.printf(Locale.ROOT, "[bench ps] %s: loopback-TCP baseline of one round (%d gradients to this "
          + "process, %d models back, %.1f MB each, one socket between two processes, median of %d) %.2f ms%n",
          model, trainers, trainers, spec.parameterCount() * 4 / 1e6, loopbackReps, loopback);
      double refRate = Double.NaN;
      String refBlas = "";
      if (script != null) {
        JsonObject ref = runReference(script, model, spec, n);
        refRate = ref.getDouble("rounds_per_s");
        refBlas = ref.getString("blas", "");
      }
      Baselines base = new Baselines(copy, loopback, refRate, refBlas);
      for (String mode : modes) {
        System.out.printf(Locale.ROOT, "[bench ps] %s %s: %d trainers, %d warm-up + %d rounds ...%n",
            model, mode, trainers, warmup, n);
        Row row = mode.equals("inproc") ? inProcess(spec, model, n, base) : processes(spec, model, n, base);
        rows.add(row);
        System.out.printf(Locale.ROOT, "[bench ps] %s %s: %.1f rounds/s, %.0f MB/s, %.2f ms/round (%.1fx baseline, "
                + "%.1fx loopback)%s%n", model, mode, row.roundsPerSecond(), row.mbPerSecond(), row.roundMs(),
            row.roundMs() / copy, row.roundMs() / loopback, script == null ? "" : String.format(Locale.ROOT,
                "; PyTorch reference %.1f rounds/s, ours %.2fx", refRate, row.xReference()));
      }
    }
    print(rows);
    Path csv = write(rows);
    System.out.println("CSV: " + csv.toAbsolutePath());
    return 0;
  }

  /** Runs the PyTorch reference for this model with the same trainers, rounds and warm-up. */
  private JsonObject runReference(Path script, String model, ModelSpec spec, int n) throws Exception {
    List<String> args = new ArrayList<>(List.of("--trainers", Integer.toString(trainers), "--rounds",
        Integer.toString(n), "--warmup", Integer.toString(warmup), "--batch-size", Integer.toString(batchSize)));
    if (model.equals("replay")) {
      args.addAll(List.of("--replay-params", Integer.toString(spec.parameterCount())));
    }
    System.out.printf(Locale.ROOT, "[bench ps] %s: PyTorch reference (%s %s) ...%n", model, script,
        String.join(" ", args));
    long limitS = 600 + (long) (warmup + n) * (model.equals("mlp") ? 2 : 60);
    JsonObject ref = Reference.run(script, args, limitS, j -> { }).get(0);
    System.out.printf(Locale.ROOT, "[bench ps] %s: PyTorch %s reference: %.1f rounds/s, %.2f ms/round, %d "
            + "trainer processes, torch BLAS: %s %s%n", model, ref.getString("torch"), ref.getDouble("rounds_per_s"),
        ref.getDouble("ms_per_round"), ref.getInteger("trainers"), ref.getString("blas"),
        ref.getJsonArray("blas_libraries", new io.vertx.core.json.JsonArray()).encode());
    return ref;
  }

  private GradientTask task(String model, String id) {
    // The tutorial's workload for the MLP: random inputs, random one-hot labels, MSE.
    return model.equals("mlp") ? new ClassificationTask("mse", MLP, batchSize, 0, id) : new ReplayTask();
  }

  private PsConfig psConfig(ModelSpec spec) {
    return new PsConfig(trainers, List.of(), null, true, device, spec, 0.001f, 0.9f, 0, -1, LOOPBACK);
  }

  /** Round-completion times on the server; written by the round's worker, read after the run. */
  private static final class Clock {
    final long[] at;
    final CompletableFuture<Void> done = new CompletableFuture<>();

    Clock(int total) {
      at = new long[total + 1];
    }

    void round(long version) {
      if (version < at.length) {
        at[(int) version] = System.nanoTime();
      }
      if (version == at.length - 1) {
        done.complete(null);
      }
    }
  }

  private Row inProcess(ModelSpec spec, String model, int n, Baselines baseline) throws Exception {
    int total = warmup + n;
    Node node = Nodes.start(NodeConfig.local()).await();
    try {
      long t0 = System.nanoTime();
      ParameterServerVerticle v = new ParameterServerVerticle(psConfig(spec), node.registry());
      node.vertx().deployVerticle(v).await();
      ParameterServer ps = v.server().await();
      Clock clock = new Clock(total);
      ps.onRound(clock::round);
      PsClient client = PsClient.eventBus(node.vertx(), 300_000);
      List<Future<Trainer.Summary>> runs = new ArrayList<>();
      for (int i = 0; i < trainers; i++) {
        String id = "bench-" + i;
        client.getModel(id).await();
        runs.add(new Trainer(node.vertx(), client, id, task(model, id), total, progress(total)).run());
      }
      Future.all(runs).await();
      List<Trainer.Summary> summaries = new ArrayList<>();
      for (Future<Trainer.Summary> f : runs) {
        summaries.add(f.result());
      }
      printTrainerPhases(summaries);
      printServerPhases(node.registry());
      return row(model, "inproc", spec, n, clock, t0, baseline, ps.backendName());
    } finally {
      node.close().await();
    }
  }

  private java.util.function.Consumer<Trainer.Progress> progress(int total) {
    int every = Math.max(1, total / 5);
    return p -> {
      if (p.trainerId().equals("bench-0") && (p.round() % every == 0)) {
        System.out.printf(Locale.ROOT, "[bench ps]   round %d/%d, model v%d, %.1f rounds/s%n", p.round(), total,
            p.modelVersion(), p.roundsPerSecond());
      }
    };
  }

  private Row processes(ModelSpec spec, String model, int n, Baselines baseline) throws Exception {
    int total = warmup + n;
    String cluster = "bench-" + UUID.randomUUID();
    int psPort = Ports.freePort();
    Node node = Nodes.start(NodeConfig.clustered(cluster, LOOPBACK, psPort, List.of())).await();
    // trainers end with code 0 after their last round; any other exit is a death
    ChildWatch watch = new ChildWatch(true);
    try {
      ParameterServerVerticle v = new ParameterServerVerticle(psConfig(spec), node.registry());
      node.vertx().deployVerticle(v).await();
      ParameterServer ps = v.server().await();
      Clock clock = new Clock(total);
      int every = Math.max(1, total / 5);
      ps.onRound(version -> {
        clock.round(version);
        if (version % every == 0) {
          System.out.printf(Locale.ROOT, "[bench ps]   round %d/%d%n", version, total);
        }
      });
      long t0 = System.nanoTime();
      Path logs = Files.createTempDirectory("batchrpc-bench-");
      for (int i = 0; i < trainers; i++) {
        watch.add(spawn(cluster, LOOPBACK + ":" + psPort, "bench-" + i, model, total, logs));
      }
      long limitMs = 120_000 + total * (model.equals("mlp") ? 1_000L : 20_000L);
      // ends at once, naming the trainer, when one dies before the last round
      watch.await(clock.done, limitMs, () -> "the trainer processes did not finish " + total + " rounds in "
          + limitMs / 1000 + " s (server at version " + ps.version() + "); logs in " + logs);
      for (ChildJvm c : watch.children()) {
        int code;
        try {
          code = c.ended().get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          throw new IllegalStateException(c.name() + " (pid " + c.pid() + ") did not exit 60 s after "
              + "the last round; log: " + c.log());
        }
        if (code != 0) {
          throw new ChildWatch.ChildDiedException(ChildWatch.describe(c));
        }
      }
      for (ChildJvm c : watch.children()) {
        // each trainer's own summary line: its per-round compute, update-and-fetch and load times
        c.line(l -> l.contains(": done:")).thenAccept(l -> System.out.println("[bench ps]   " + l));
      }
      printServerPhases(node.registry());
      return row(model, "procs", spec, n, clock, t0, baseline, ps.backendName());
    } finally {
      watch.close();
      node.close().await();
    }
  }

  /** The trainers' mean per-round phases (all rounds, warm-up included). */
  private static void printTrainerPhases(List<Trainer.Summary> summaries) {
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
  private static void printServerPhases(io.micrometer.core.instrument.MeterRegistry registry) {
    System.out.printf(Locale.ROOT, "[bench ps]   server, mean: round wait (first to last arrival) %.2f ms, "
        + "round compute %.2f ms = apply (average + SGD) %.2f ms + encode %.2f ms; finite check %.3f ms per "
        + "request%n", meanMs(registry, "ps.round.wait"), meanMs(registry, "ps.round.compute"),
        meanMs(registry, "ps.round.apply"), meanMs(registry, "ps.round.encode"),
        meanMs(registry, "ps.finite.check"));
  }

  private static double meanMs(io.micrometer.core.instrument.MeterRegistry registry, String name) {
    io.micrometer.core.instrument.Timer t = registry.find(name).timer();
    return t == null ? Double.NaN : t.mean(TimeUnit.MILLISECONDS);
  }

  private ChildJvm spawn(String cluster, String seed, String id, String model, int total, Path logs)
      throws IOException {
    List<String> opts = new ArrayList<>(List.of("-Xmx" + trainerHeap));
    if (trainerJavaOpts != null && !trainerJavaOpts.isBlank()) {
      opts.addAll(Arrays.asList(trainerJavaOpts.trim().split("\\s+")));
    }
    opts.add("-Dhazelcast.wait.seconds.before.join=0");
    List<String> cmd = JvmFlags.command(opts, "dev.batchrpc.suite.Main");
    cmd.addAll(List.of("trainer",
        "--clustered", "--cluster-name", cluster, "--cluster-members", seed, "--cluster-host", LOOPBACK,
        "--cluster-port", String.valueOf(Ports.freePort()), "--id", id, "--batches", String.valueOf(total),
        "--timeout-ms", "600000", "--wait-for-ps-ms", "120000", "--progress-every", "0",
        "--task", model.equals("mlp") ? "mse" : "replay", "--batch-size", String.valueOf(batchSize),
        "--layers", "784,256,10"));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    // One trainer per process, several processes per machine: OpenBLAS's own threads would only
    // compete with the other trainers for the cores (and spin while waiting), so one thread each
    // unless the caller chose otherwise.
    pb.environment().putIfAbsent("OPENBLAS_NUM_THREADS", "1");
    return ChildJvm.start("trainer process " + id, pb, logs.resolve(id + ".log"));
  }

  private Row row(String model, String mode, ModelSpec spec, int n, Clock clock, long t0, Baselines b,
                  String backend) {
    long start = clock.at[warmup];
    long end = clock.at[warmup + n];
    // startup: from deployment (in-process) or process spawn (procs) to the end of the first round
    double startup = (clock.at[1] - t0) / 1e9;
    return new Row(model, mode, trainers, spec.parameterCount(), n, (end - start) / 1e9, startup, b.copyMs(),
        b.loopbackMs(), backend, b.refRoundsPerSecond(), b.refBlas());
  }

  /** The median over a few repetitions of copying one round's bytes: N gradients in, one model out. */
  private double baselineMs(int params) {
    float[] src = new float[params];
    float[] dst = new float[params];
    Arrays.fill(src, 1f);
    double[] ms = new double[7];
    for (int r = 0; r < ms.length; r++) {
      long t = System.nanoTime();
      for (int i = 0; i < trainers + 1; i++) {
        System.arraycopy(src, 0, dst, 0, params);
        src[i % params] += dst[(i * 7) % params]; // keep the copies observable
      }
      ms[r] = (System.nanoTime() - t) / 1e6;
    }
    Arrays.sort(ms);
    return ms[ms.length / 2];
  }

  private void print(List<Row> rows) {
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

  private Path write(List<Row> rows) throws IOException {
    Files.createDirectories(out);
    Path file = out.resolve("ps-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
        + ".csv");
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
      w.println("model,mode,trainers,params,rounds,seconds,rounds_per_s,mb_per_s,ms_per_round,baseline_ms,"
          + "x_baseline,loopback_ms,x_loopback,startup_s,backend,ref_rounds_per_s,x_ref,ref_blas");
      for (Row r : rows) {
        boolean ref = !Double.isNaN(r.refRoundsPerSecond());
        w.printf(Locale.ROOT, "%s,%s,%d,%d,%d,%.4f,%.2f,%.1f,%.3f,%.3f,%.2f,%.3f,%.2f,%.2f,\"%s\",%s,%s,\"%s\"%n",
            r.model(), r.mode(), r.trainers(), r.params(), r.rounds(), r.seconds(), r.roundsPerSecond(),
            r.mbPerSecond(), r.roundMs(), r.baselineMs(), r.roundMs() / r.baselineMs(), r.loopbackMs(),
            r.roundMs() / r.loopbackMs(), r.startupSeconds(), r.backend(),
            ref ? String.format(Locale.ROOT, "%.2f", r.refRoundsPerSecond()) : "",
            ref ? String.format(Locale.ROOT, "%.3f", r.xReference()) : "", r.refBlas());
      }
    }
    return file;
  }
}
