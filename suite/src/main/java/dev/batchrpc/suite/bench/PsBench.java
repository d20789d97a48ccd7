package dev.batchrpc.suite.bench;

import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.suite.bench.PsBenchReport.Row;
import dev.batchrpc.trainer.ClassificationTask;
import dev.batchrpc.trainer.GradientTask;
import dev.batchrpc.trainer.PsClient;
import dev.batchrpc.trainer.ReplayTask;
import dev.batchrpc.trainer.Trainer;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
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
      description = "Untimed rounds before measuring (JIT, buffers), for ours and the reference alike. "
          + "For steady-state figures of the small models use about 1000: the trainer JVMs' JIT takes "
          + "that long to settle (docs/benchmarks/ps.md). Default: ${DEFAULT-VALUE}.")
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
          + "recording: -XX:StartFlightRecording=filename=/tmp/{id}.jfr; {id} becomes the trainer's "
          + "id). Env BATCHRPC_TRAINER_JAVA_OPTS.")
  String trainerJavaOpts;

  @Option(names = "--spin-us", defaultValue = "0",
      description = "The most microseconds every event loop of the bench (the ps's node, each trainer "
          + "process) polls for more work, yielding its core, before it sleeps (-D" + Nodes.SPIN_US_PROPERTY
          + "; each loop's poll adapts to its idle periods up to this, docs/architecture.md, \"Threads\"). "
          + "Measured: no gain on mlp across processes, whose rounds are compute-bound. 0 sleeps at once. "
          + "Default: ${DEFAULT-VALUE}.")
  long spinUs;

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

  /** The baselines and the reference of one model, measured once per run. */
  private record Baselines(double copyMs, double loopbackMs, double refRoundsPerSecond, String refBlas) {
  }

  @Override
  public Integer call() throws Exception {
    try {
      Nodes.requireSpinMicros("--spin-us", spinUs);
    } catch (IllegalArgumentException e) {
      System.err.println("batch-rpc bench ps: " + e.getMessage());
      return 2;
    }
    // Read by Nodes.start; this process starts only the bench's nodes. Put back when it ends.
    try (ScopedProperties props = new ScopedProperties()) {
      if (spinUs > 0) {
        props.set(Nodes.SPIN_US_PROPERTY, Long.toString(spinUs));
      }
      return ChildWatch.reportingDeaths(spec, "batch-rpc bench ps", this::run);
    }
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
    BenchDevice.check(spec, device);
    Path script = null;
    if (reference) {
      try {
        script = Reference.require("ps_reference.py");
      } catch (IllegalStateException e) {
        System.err.println("batch-rpc bench ps: " + e.getMessage());
        return 2;
      }
    }
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
        System.out.println(row.summary(script != null));
      }
    }
    PsBenchReport.print(rows, reference);
    Path csv = PsBenchReport.write(out, rows);
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
    return PsConfig.builder(trainers, spec).device(device).grpcHost(LOOPBACK).build();
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
      PsBenchReport.printTrainerPhases(summaries);
      PsBenchReport.printServerPhases(node.registry());
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
    // trainers end with code 0 after their last round; any other exit is a death
    try (BenchCluster cluster = BenchCluster.start("bench"); ChildWatch watch = new ChildWatch(true)) {
      Node node = cluster.node();
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
      System.out.println("[bench ps]   trainer logs in " + logs);
      for (int i = 0; i < trainers; i++) {
        watch.add(spawn(cluster, "bench-" + i, model, total, logs));
      }
      long limitMs = 120_000 + total * (model.equals("mlp") ? 1_000L : 20_000L);
      // ends at once, naming the trainer, when one dies before the last round
      watch.await(clock.done, limitMs, () -> "the trainer processes did not finish " + total + " rounds in "
          + limitMs / 1000 + " s (server at version " + ps.version() + "); logs in " + logs);
      watch.awaitCleanExits(60_000, "the last round");
      for (ChildJvm c : watch.children()) {
        // each trainer's own summary line: its per-round compute, update-and-fetch and load times
        c.line(l -> l.contains(": done:")).thenAccept(l -> System.out.println("[bench ps]   " + l));
      }
      PsBenchReport.printServerPhases(node.registry());
      return row(model, "procs", spec, n, clock, t0, baseline, ps.backendName());
    }
  }

  private ChildJvm spawn(BenchCluster cluster, String id, String model, int total, Path logs) throws IOException {
    List<String> opts = new ArrayList<>(List.of("-Xmx" + trainerHeap));
    if (spinUs > 0) {
      opts.add("-D" + Nodes.SPIN_US_PROPERTY + "=" + spinUs);
    }
    if (trainerJavaOpts != null && !trainerJavaOpts.isBlank()) {
      for (String o : trainerJavaOpts.trim().split("\\s+")) {
        opts.add(o.replace("{id}", id));
      }
    }
    // One trainer per process, several processes per machine: OpenBLAS's own threads would only
    // compete with the other trainers for the cores (and spin while waiting), so one thread each
    // unless the caller chose otherwise.
    return cluster.spawn("trainer process " + id, opts, Map.of("OPENBLAS_NUM_THREADS", "1"),
        logs.resolve(id + ".log"), "trainer", List.of("--id", id, "--batches", String.valueOf(total),
            "--timeout-ms", "600000", "--wait-for-ps-ms", "120000", "--progress-every", "0",
            "--task", model.equals("mlp") ? "mse" : "replay", "--batch-size", String.valueOf(batchSize),
            "--layers", "784,256,10"));
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
}
