package dev.batchrpc.suite.bench;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.LatencyLog;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import dev.batchrpc.suite.bench.rl.RlPlot;
import io.vertx.core.Future;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc bench rl}: the tutorial's benchmark. For each world size (agent + N observers),
 * mode and deployment, runs the agent for a number of episodes and reports the episode-loop time
 * (the tutorial's {@code batch_s}/{@code nobatch_s}), the per-request latency percentiles measured at
 * the agent, start-up separately, and the running reward (learning) per seed.
 *
 * <p>Deployments: {@code inproc}, the agent and its observers on one plain Vert.x; {@code procs},
 * the agent clustered in this JVM and one OS process per observer (as the tutorial runs one
 * process per rank), Hazelcast on 127.0.0.1. Observer processes start once per world size and seed
 * and serve both modes.
 */
@Command(name = "rl", mixinStandardHelpOptions = true,
    description = {
        "Benchmarks the batch-processing CartPole agent against its non-batch mode, like the",
        "tutorial: world size (agent + observers) against episode-loop time, in one process and",
        "with one OS process per observer. Prints a table, writes CSV and a PNG figure.",
        ""
    })
public final class RlBench implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Option(names = "--world-sizes", defaultValue = "2-11",
      description = "World sizes (agent + observers, >= 2): a range '2-11' or a list '2,6,11'. "
          + "Default: ${DEFAULT-VALUE}.")
  String worldSizes;

  @Option(names = "--episodes", defaultValue = "10", description = "Episodes per run. Default: ${DEFAULT-VALUE}.")
  int episodes;

  @Option(names = "--steps", defaultValue = "500", description = "Steps per episode. Default: ${DEFAULT-VALUE}.")
  int steps;

  @Option(names = "--modes", split = ",", defaultValue = "batch,nobatch",
      description = "Modes, comma-separated: batch, nobatch. Default: ${DEFAULT-VALUE}.")
  List<String> modes;

  @Option(names = "--deployments", split = ",", defaultValue = "inproc,procs",
      description = "Deployments, comma-separated: inproc (one process), procs (one OS process per "
          + "observer, clustered on loopback). Default: ${DEFAULT-VALUE}.")
  List<String> deployments;

  @Option(names = "--seeds", split = ",", defaultValue = "543",
      description = "Seeds, comma-separated; each (world size, mode, deployment) runs once per seed: "
          + "times are the median over seeds, the learning report lists every seed. "
          + "Default: ${DEFAULT-VALUE}.")
  List<Long> seeds;

  @Option(names = "--procs-seeds", split = ",",
      description = "Seeds of the procs deployment, if not --seeds (its runs take much longer). "
          + "Default: --seeds.")
  List<Long> procsSeeds;

  @Option(names = "--device", defaultValue = "cpu", description = "auto, cpu or cuda. Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--warmup-episodes", defaultValue = "1",
      description = "Untimed episodes before each timed run, by a throwaway agent (another seed) on "
          + "the same observers: both modes then meet JIT-compiled code, and the timed run's "
          + "parameters and rewards are the same as without. 0 for cold runs. Default: ${DEFAULT-VALUE}.")
  int warmupEpisodes;

  @Option(names = "--observer-java-opts", defaultValue = DEFAULT_OBSERVER_JAVA_OPTS,
      description = "JVM options of each observer process (procs). Default: ${DEFAULT-VALUE}.")
  String observerJavaOpts;

  @Option(names = "--event-loops", defaultValue = "1",
      description = "Vert.x event loops of every node of the bench (the one-process node, the agent's, "
          + "each observer process); 0 for Vert.x's default (twice the cores). On one loop a "
          + "hand-off between an observer and the agent is a queued task, not a thread wake-up. "
          + "Default: ${DEFAULT-VALUE}.")
  int eventLoops;

  @Option(names = "--reference",
      description = "Also run the PyTorch reference (tools/reference/rl_reference.py: the tutorial's "
          + "agent and observers, torch.distributed.rpc, one process per rank) with the same world "
          + "sizes, modes, episodes, steps and warm-up, and print its episode-loop time and the ratio "
          + "beside ours. Needs Debian's /usr/bin/python3 with python3-torch.")
  boolean reference;

  @Option(names = "--out", defaultValue = "bench-results",
      description = "Directory for rl.csv, rl-learning.csv and rl.png. Default: ${DEFAULT-VALUE}.")
  File out;

  /**
   * Observer processes: a small heap and the serial collector (the loop allocates little), C1
   * only (a few thousand requests never repay C2's compile time, and C2's threads compete with
   * ten observers for the cores), one "processor" seen (fewer Vert.x event loops, GC and
   * Hazelcast threads), Hazelcast with one operation/IO thread each way.
   */
  static final String DEFAULT_OBSERVER_JAVA_OPTS = "-Xms64m -Xmx192m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "
      + "-XX:ActiveProcessorCount=1 -Xshare:auto -Dhazelcast.operation.thread.count=1 "
      + "-Dhazelcast.operation.generic.thread.count=1 -Dhazelcast.io.thread.count=1";

  /**
   * Cluster-wide Hazelcast settings of the bench (every member needs the same partition count): no
   * join pause, and few partitions, so each joining observer migrates 7 small partitions rather
   * than 271 (Vert.x keeps only its subscription and node maps there).
   */
  static final Map<String, String> CLUSTER_PROPERTIES = Map.of(
      "hazelcast.wait.seconds.before.join", "0",
      "hazelcast.partition.count", "7");

  /** The PyTorch reference's episode-loop seconds by "worldSize mode", and the BLAS torch used. */
  private final Map<String, Double> referenceSeconds = new LinkedHashMap<>();
  private String referenceBlas = "";

  /** One run's measurements. */
  record Result(String deployment, int worldSize, String mode, long seed, double loopSeconds,
      double runSeconds, double startupSeconds, LatencyLog.Summary latency, double[] runningRewards) {
  }

  @Override
  public Integer call() throws Exception {
    return ChildWatch.reportingDeaths(spec, "batch-rpc bench rl", this::run);
  }

  private int run() throws Exception {
    List<Integer> sizes;
    List<AgentMode> ms = new ArrayList<>();
    try {
      sizes = parseWorldSizes(worldSizes);
      for (String m : modes) {
        ms.add(AgentMode.parse(m));
      }
      for (String d : deployments) {
        if (!d.equals("inproc") && !d.equals("procs")) {
          throw new IllegalArgumentException("--deployments must be inproc and/or procs, got '" + d + "'");
        }
      }
      if (episodes < 1 || steps < 1) {
        throw new IllegalArgumentException("--episodes and --steps must be at least 1");
      }
      if (warmupEpisodes < 0) {
        throw new IllegalArgumentException("--warmup-episodes must be >= 0, got " + warmupEpisodes);
      }
      if (seeds.isEmpty()) {
        throw new IllegalArgumentException("--seeds must name at least one seed");
      }
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    if (eventLoops < 0) {
      throw new ParameterException(spec.commandLine(), "--event-loops must be >= 0, got " + eventLoops);
    }
    java.nio.file.Path script = null;
    if (reference) {
      try {
        script = Reference.require("rl_reference.py");
      } catch (IllegalStateException e) {
        spec.commandLine().getErr().println("batch-rpc bench rl: " + e.getMessage());
        spec.commandLine().getErr().flush();
        return 2;
      }
    }
    if (eventLoops > 0) {
      // Read by Nodes.start; this process starts only the bench's nodes.
      System.setProperty(Nodes.EVENT_LOOPS_PROPERTY, Integer.toString(eventLoops));
    }
    List<Result> results = new ArrayList<>();
    if (deployments.contains("inproc")) {
      Node node = Nodes.start(NodeConfig.local()).await();
      try {
        for (int ws : sizes) {
          for (long seed : seeds) {
            for (AgentMode mode : ms) {
              results.add(runInProcess(node, ws, mode, seed));
            }
          }
        }
      } finally {
        node.close().await(10, TimeUnit.SECONDS);
      }
    }
    if (deployments.contains("procs")) {
      CLUSTER_PROPERTIES.forEach(System::setProperty);
      int port = Ports.freePort();
      String cluster = "bench-rl-" + UUID.randomUUID();
      Node node = Nodes.start(NodeConfig.clustered(cluster, "127.0.0.1", port, List.of())).await();
      try {
        for (int ws : sizes) {
          for (long seed : seedsOf("procs")) {
            results.addAll(runProcesses(node, cluster, port, ws, ms, seed));
          }
        }
      } finally {
        node.close().await(20, TimeUnit.SECONDS);
      }
    }
    if (script != null) {
      runReference(script, sizes);
    }
    report(results, sizes);
    return 0;
  }

  /** Runs the PyTorch reference over the same world sizes, modes, episodes, steps and warm-up. */
  private void runReference(java.nio.file.Path script, List<Integer> sizes) throws Exception {
    List<String> args = List.of("--world-sizes", String.join(",", sizes.stream().map(String::valueOf).toList()),
        "--modes", String.join(",", modes), "--episodes", Integer.toString(episodes), "--steps",
        Integer.toString(steps), "--warmup-episodes", Integer.toString(warmupEpisodes), "--seed",
        Long.toString(seeds.get(0)));
    System.out.println("[reference] " + Reference.python() + " " + script + " " + String.join(" ", args));
    long limitS = 600 + (long) sizes.size() * modes.size() * (60 + (long) (episodes + warmupEpisodes) * steps / 10);
    Reference.run(script, args, limitS, j -> {
      referenceSeconds.put(j.getInteger("world_size") + " " + j.getString("mode"), j.getDouble("episode_loop_s"));
      referenceBlas = j.getString("blas", "");
      System.out.printf(Locale.ROOT, "[reference ws=%2d %-7s] PyTorch %s: %d episodes x %d steps: loop %.3f s "
              + "(process start and RPC set-up %.2f s more), running reward %.1f%n", j.getInteger("world_size"),
          j.getString("mode"), j.getString("torch"), episodes, steps, j.getDouble("episode_loop_s"),
          j.getDouble("wall_s") - j.getDouble("episode_loop_s"), j.getDouble("running_reward"));
    });
  }

  /** Our BLAS (or device) for the report. */
  private String ourCompute() {
    return device.equals("cpu") ? "cpu (" + dev.batchrpc.compute.cpu.CpuBackend.blasName() + ")" : device;
  }

  private List<Long> seedsOf(String deployment) {
    return deployment.equals("procs") && procsSeeds != null && !procsSeeds.isEmpty() ? procsSeeds : seeds;
  }

  private AgentConfig config(int ws, AgentMode mode, long seed) {
    return AgentConfig.of(ws - 1, mode, seed).withTraining(1.0, AgentConfig.DEFAULT_LR, device);
  }

  private Result runInProcess(Node node, int ws, AgentMode mode, long seed) throws Exception {
    long t0 = System.nanoTime();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < ws - 1; i++) {
      ids.add(node.vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(i, seed))).await());
    }
    warmUp(node, ws, mode, seed, null);
    long t1 = System.nanoTime();
    AgentVerticle agent = new AgentVerticle(config(ws, mode, seed), node.registry());
    ids.add(0, node.vertx().deployVerticle(agent).await());
    agent.observersReady().await();
    t0 = warmupEpisodes == 0 ? t0 : t1;
    double startup = (System.nanoTime() - t0) / 1e9;
    Result r = episodes(agent, "inproc", ws, mode, seed, startup, t0, null);
    for (String id : ids) {
      node.vertx().undeploy(id).await();
    }
    return r;
  }

  /**
   * Runs the untimed warm-up episodes with a throwaway agent of another seed, then undeploys it.
   * Observers start every episode from (seed, index, episode) and keep nothing else, so the
   * timed agent that follows sees exactly what it would have seen first.
   */
  private void warmUp(Node node, int ws, AgentMode mode, long seed, ChildWatch watch) throws Exception {
    if (warmupEpisodes == 0) {
      return;
    }
    AgentVerticle agent = new AgentVerticle(config(ws, mode, seed + 1), null);
    String id = node.vertx().deployVerticle(agent).await();
    await(watch, agent.observersReady(), 60_000, "the observers did not register with the warm-up agent");
    for (int e = 0; e < warmupEpisodes; e++) {
      await(watch, agent.runEpisode(steps), 0, "");
    }
    node.vertx().undeploy(id).await();
  }

  private List<Result> runProcesses(Node node, String cluster, int agentPort, int ws, List<AgentMode> ms,
                                    long seed) throws Exception {
    long t0 = System.nanoTime();
    List<Result> done = new ArrayList<>();
    // Observers serve until the bench ends them: any exit before is a death, and every wait below
    // ends at once with the dead observer's id, exit code and log (the agent would otherwise go on
    // with the observers left, and the figures would be of a smaller world).
    try (ChildWatch watch = new ChildWatch(false)) {
      List<CompletableFuture<String>> ready = new ArrayList<>();
      out.mkdirs();
      for (int i = 0; i < ws - 1; i++) {
        ChildJvm observer = watch.add(startObserver(cluster, agentPort, i, ws, seed));
        ready.add(observer.line(l -> l.startsWith("observer ") && l.contains(" ready ")));
      }
      watch.await(CompletableFuture.allOf(ready.toArray(CompletableFuture[]::new)), 180_000,
          () -> "observer processes did not start within 180 s; see "
          + new File(out, "rl-observer-*.log"));
      double spawn = (System.nanoTime() - t0) / 1e9;
      for (AgentMode mode : ms) {
        warmUp(node, ws, mode, seed, watch);
        long t1 = System.nanoTime();
        AgentVerticle agent = new AgentVerticle(config(ws, mode, seed), node.registry());
        String id = node.vertx().deployVerticle(agent).await();
        // The agent announces its start; each observer process registers again.
        await(watch, agent.observersReady(), 60_000, "the observers did not register with the agent in 60 s");
        double startup = spawn + (System.nanoTime() - t1) / 1e9;
        done.add(episodes(agent, "procs", ws, mode, seed, startup, t1, watch));
        node.vertx().undeploy(id).await();
        spawn = 0;
      }
    }
    return done;
  }

  /**
   * Waits for {@code f}: through {@code watch} when there are child processes (ends at once when
   * one dies), else plainly; {@code timeoutMs <= 0}: no limit.
   */
  private static <T> T await(ChildWatch watch, Future<T> f, long timeoutMs, String timeoutMessage) throws Exception {
    if (watch != null) {
      return watch.await(f.toCompletionStage(), timeoutMs, () -> timeoutMessage);
    }
    return timeoutMs > 0 ? f.await(timeoutMs, TimeUnit.MILLISECONDS) : f.await();
  }

  private ChildJvm startObserver(String cluster, int agentPort, int index, int ws, long seed) throws IOException {
    List<String> opts = new ArrayList<>();
    for (String o : observerJavaOpts.trim().split("\\s+")) {
      if (!o.isEmpty()) {
        opts.add(o);
      }
    }
    CLUSTER_PROPERTIES.forEach((k, v) -> opts.add("-D" + k + "=" + v));
    if (eventLoops > 0) {
      opts.add("-D" + Nodes.EVENT_LOOPS_PROPERTY + "=" + eventLoops);
    }
    // JvmFlags.COMMON (exit on OutOfMemoryError, ...) is added whatever --observer-java-opts says.
    List<String> cmd = JvmFlags.command(opts, "dev.batchrpc.suite.Main");
    cmd.addAll(List.of("observer",
        "--clustered", "--cluster-name", cluster, "--cluster-host", "127.0.0.1",
        "--cluster-port", Integer.toString(Ports.freePort()), "--cluster-members", "127.0.0.1:" + agentPort,
        "--index", Integer.toString(index), "--seed", Long.toString(seed)));
    return ChildJvm.start("observer process " + index + " (of world size " + ws + ")", new ProcessBuilder(cmd),
        new File(out, "rl-observer-" + index + ".log").toPath());
  }

  private Result episodes(AgentVerticle agent, String deployment, int ws, AgentMode mode, long seed,
                          double startup, long t0, ChildWatch watch) throws Exception {
    agent.drainLatencies().await();
    double loop = 0;
    double[] running = new double[episodes];
    for (int e = 0; e < episodes; e++) {
      AgentVerticle.EpisodeResult r = await(watch, agent.runEpisode(steps), 0, "");
      loop += r.seconds();
      running[e] = r.runningReward();
    }
    LatencyLog.Summary lat = agent.drainLatencies().await();
    double run = (System.nanoTime() - t0) / 1e9;
    System.out.printf(Locale.ROOT, "[%-6s ws=%2d %-7s seed=%d] %d episodes x %d steps: loop %.3f s "
            + "(start-up %.2f s), latency p50 %.0f us p99 %.0f us, running reward %.1f%n",
        deployment, ws, mode.cliName(), seed, episodes, steps, loop, startup, lat.p50Us(), lat.p99Us(),
        running[episodes - 1]);
    return new Result(deployment, ws, mode.cliName(), seed, loop, run, startup, lat, running);
  }

  private void report(List<Result> results, List<Integer> sizes) throws IOException {
    out.mkdirs();
    try (PrintWriter w = new PrintWriter(new File(out, "rl.csv"), StandardCharsets.UTF_8)) {
      w.println("deployment,world_size,mode,seed,episodes,steps,episode_loop_s,run_s,startup_s,"
          + "requests,p50_us,p90_us,p99_us,max_us,final_running_reward,compute,ref_episode_loop_s,x_ref,ref_blas");
      for (Result r : results) {
        Double ref = referenceSeconds.get(r.worldSize() + " " + r.mode());
        w.printf(Locale.ROOT, "%s,%d,%s,%d,%d,%d,%.6f,%.6f,%.6f,%d,%.1f,%.1f,%.1f,%.1f,%.3f,\"%s\",%s,%s,\"%s\"%n",
            r.deployment(), r.worldSize(), r.mode(), r.seed(), episodes, steps, r.loopSeconds(), r.runSeconds(),
            r.startupSeconds(), r.latency().count(), r.latency().p50Us(), r.latency().p90Us(),
            r.latency().p99Us(), r.latency().maxUs(), r.runningRewards()[episodes - 1], ourCompute(),
            ref == null ? "" : String.format(Locale.ROOT, "%.6f", ref),
            ref == null ? "" : String.format(Locale.ROOT, "%.3f", ref / r.loopSeconds()),
            ref == null ? "" : referenceBlas);
      }
    }
    try (PrintWriter w = new PrintWriter(new File(out, "rl-learning.csv"), StandardCharsets.UTF_8)) {
      StringBuilder h = new StringBuilder("deployment,world_size,mode,seed");
      for (int e = 1; e <= episodes; e++) {
        h.append(",running_reward_ep").append(e);
      }
      w.println(h);
      for (Result r : results) {
        StringBuilder b = new StringBuilder(r.deployment() + "," + r.worldSize() + "," + r.mode() + "," + r.seed());
        for (double v : r.runningRewards()) {
          b.append(String.format(Locale.ROOT, ",%.3f", v));
        }
        w.println(b);
      }
    }
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    System.out.println();
    for (String d : deployments) {
      System.out.printf(Locale.ROOT, "%s (%s): episode-loop time, median over %d seed(s), %d episodes x %d steps%n",
          d, d.equals("inproc") ? "one process" : "one OS process per observer", seedsOf(d).size(), episodes, steps);
      System.out.println("world_size, batch_s, nobatch_s, batch_p50_us, batch_p99_us, nobatch_p50_us, nobatch_p99_us, "
          + "startup_s");
      for (int ws : sizes) {
        double[] b = stats(results, d, ws, "batch");
        double[] nb = stats(results, d, ws, "nobatch");
        if (Double.isNaN(b[0]) && Double.isNaN(nb[0])) {
          continue;
        }
        // Start-up: the first mode's (for procs it includes starting the observer processes).
        System.out.printf(Locale.ROOT, "%d, %.3f, %.3f, %.0f, %.0f, %.0f, %.0f, %.2f%n", ws, b[0], nb[0], b[1], b[2],
            nb[1], nb[2], Math.max(Double.isNaN(b[3]) ? 0 : b[3], Double.isNaN(nb[3]) ? 0 : nb[3]));
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
      System.out.println("BLAS: ours " + ourCompute() + ", PyTorch " + referenceBlas);
      System.out.println();
    }
    System.out.println("learning: running reward after " + episodes + " episodes (per seed)");
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
    RlPlot.write(png, "batch-rpc bench rl: " + episodes + " episodes x " + steps + " steps", series);
    System.out.println();
    System.out.println("wrote " + new File(out, "rl.csv") + ", " + new File(out, "rl-learning.csv") + ", " + png);
  }

  /** {median loop s, median p50 us, median p99 us, median start-up s} over seeds, NaN when absent. */
  private static double[] stats(List<Result> results, String d, int ws, String mode) {
    List<double[]> v = new ArrayList<>();
    for (Result r : results) {
      if (r.deployment().equals(d) && r.worldSize() == ws && r.mode().equals(mode)) {
        v.add(new double[] {r.loopSeconds(), r.latency().p50Us(), r.latency().p99Us(), r.startupSeconds()});
      }
    }
    if (v.isEmpty()) {
      return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN};
    }
    double[] out = new double[4];
    for (int k = 0; k < 4; k++) {
      double[] col = new double[v.size()];
      for (int i = 0; i < v.size(); i++) {
        col[i] = v.get(i)[k];
      }
      Arrays.sort(col);
      out[k] = col[col.length / 2];
    }
    return out;
  }

  /** Parses "2-11" or "2,6,11" into sorted distinct world sizes, each >= 2. */
  static List<Integer> parseWorldSizes(String s) {
    TreeSet<Integer> set = new TreeSet<>();
    try {
      for (String part : s.split(",")) {
        String p = part.trim();
        int dash = p.indexOf('-', 1);
        if (dash > 0) {
          int a = Integer.parseInt(p.substring(0, dash).trim());
          int b = Integer.parseInt(p.substring(dash + 1).trim());
          if (b < a) {
            throw new IllegalArgumentException("--world-sizes range '" + p + "' is empty");
          }
          for (int i = a; i <= b; i++) {
            set.add(i);
          }
        } else {
          set.add(Integer.parseInt(p));
        }
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--world-sizes must be a range like 2-11 or a list like 2,6,11, got '" + s + "'");
    }
    if (set.isEmpty() || set.first() < 2) {
      throw new IllegalArgumentException("--world-sizes must all be >= 2 (agent + at least one observer), got '" + s + "'");
    }
    return new ArrayList<>(set);
  }
}
