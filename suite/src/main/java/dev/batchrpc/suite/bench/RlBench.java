package dev.batchrpc.suite.bench;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.agent.LatencyLog;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.suite.bench.RlBenchReport.Result;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
 * the agent, start-up separately, and the running reward (learning) per run.
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
        "with one OS process per observer. Prints a table (with actions/s: the agent's answers per",
        "second of episode loop), writes CSV and a PNG figure. An observer scale sweep in one",
        "process: --world-sizes 11,101,1001,10001 --deployments inproc --episodes 1 --steps 20.",
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
      description = "Seeds, comma-separated; each (world size, mode, deployment) runs --repeats times per "
          + "seed: times are the median over those runs, the learning report lists every run. "
          + "Default: ${DEFAULT-VALUE}.")
  List<Long> seeds;

  @Option(names = "--procs-seeds", split = ",",
      description = "Seeds of the procs deployment, if not --seeds (its runs take much longer). "
          + "Default: --seeds.")
  List<Long> procsSeeds;

  @Option(names = "--repeats", defaultValue = "4",
      description = "Timed runs of each mode per world size and seed, the modes' order alternating "
          + "(batch, non-batch, non-batch, batch, ...): the tables give the median, so neither mode "
          + "is always the one timed first (across processes that alone moved a run up to 2.5x: the "
          + "first run after the warm-up is the slowest, the observer processes still settling; "
          + "the median of 4 leaves it out, docs/benchmarks/rl.md), and x_batch_pairs the lowest "
          + "and highest ratio over pairs of neighbouring runs, with how many batch won: a median "
          + "ratio near 1 whose pairs fall on both sides is a tie. rl.csv has a row per run. "
          + "Default: ${DEFAULT-VALUE}.")
  int repeats;

  @Option(names = "--device", defaultValue = "cpu", description = "auto, cpu or cuda. Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--warmup-episodes", defaultValue = "1",
      description = "Untimed episodes of every mode before each world size's timed runs, by a throwaway "
          + "agent (another seed) on the same observers: both modes then meet JIT-compiled code, and "
          + "the timed run's parameters and rewards are the same as without. 0 for cold runs. For "
          + "steady-state figures use about 20: with 1, the mode timed first still runs partly "
          + "interpreted or in C1 code (docs/benchmarks/rl.md). Default: ${DEFAULT-VALUE}.")
  int warmupEpisodes;

  @Option(names = "--observer-java-opts",
      description = "JVM options of each observer process (procs). Default: " + DEFAULT_OBSERVER_JAVA_OPTS
          + "; with --warmup-episodes " + C2_WARMUP_EPISODES + " or more, the same without "
          + "-XX:TieredStopAtLevel=1 (the warm-up then gives C2 the time to compile the step path). "
          + "They come after the bench's own settings, so a -D here overrides --spin-us and --event-loops "
          + "for the observers alone (e.g. -Dbatchrpc.spin-us=0: only the agent's node polls).")
  String observerJavaOpts;

  @Option(names = "--event-loops", defaultValue = "1",
      description = "Vert.x event loops of every node of the bench (the one-process node, the agent's, "
          + "each observer process); 0 for Vert.x's default (twice the cores). On one loop a "
          + "hand-off between an observer and the agent is a queued task, not a thread wake-up. "
          + "Default: ${DEFAULT-VALUE}.")
  int eventLoops;

  @Option(names = "--spin-us", defaultValue = "300",
      description = "The most microseconds every event loop of the bench (the agent's node, each observer "
          + "process) polls for more work, yielding its core, before it sleeps (-D" + Nodes.SPIN_US_PROPERTY
          + "; each loop's poll adapts to its idle periods up to this): on a virtual machine a "
          + "sleeping core halts and each wake-up costs tens of microseconds. Polling loops also carry "
          + "the observers' steps through a same-host shared-memory mailbox instead of the socket. "
          + "Measured on the 2-core machine, 40 episodes across processes, world sizes 8 and 11: with "
          + "300 both modes 1.3-1.5x faster than with the mailbox off (-Dbatchrpc.data.mailbox=false), "
          + "x_batch (batch's speed over non-batch's) 0.78-1.00 over world sizes 2-11; 2000 was slower "
          + "(docs/benchmarks/rl.md). 0 sleeps at once, as "
          + "the services do unless started with --spin-us. Default: ${DEFAULT-VALUE}.")
  long spinUs;

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
   * Observer processes with a long warm-up ({@link #C2_WARMUP_EPISODES}): a small heap and the
   * serial collector (the loop allocates little), one "processor" seen (fewer Vert.x event loops,
   * GC and Hazelcast threads), Hazelcast with one operation/IO thread each way.
   */
  static final String C2_OBSERVER_JAVA_OPTS = "-Xms64m -Xmx192m -XX:+UseSerialGC "
      + "-XX:ActiveProcessorCount=1 -Xshare:auto -Dhazelcast.operation.thread.count=1 "
      + "-Dhazelcast.operation.generic.thread.count=1 -Dhazelcast.io.thread.count=1";

  /**
   * Observer processes by default: the same, C1 only (with a short warm-up, C2's compiles fall
   * in the timed run, and its threads compete with ten observers for the cores).
   */
  static final String DEFAULT_OBSERVER_JAVA_OPTS = C2_OBSERVER_JAVA_OPTS + " -XX:TieredStopAtLevel=1";

  /**
   * From this many warm-up episodes (5,000 steps per observer and mode at the default
   * {@code --steps}) the observers run C2 too: measured at world size 11, 20 warm-up episodes,
   * batch 1.52-1.66 s with C2 against 1.75 s C1 only (non-batch 0.79-0.84 against 1.06); with 1
   * warm-up episode C2 was twice as slow (its compiles fell in the timed run).
   */
  static final int C2_WARMUP_EPISODES = 10;

  /** The observers' JVM options: as given, else the default for the warm-up asked for. */
  String observerJavaOpts() {
    if (observerJavaOpts != null) {
      return observerJavaOpts;
    }
    return warmupEpisodes >= C2_WARMUP_EPISODES ? C2_OBSERVER_JAVA_OPTS : DEFAULT_OBSERVER_JAVA_OPTS;
  }

  /** The PyTorch reference's episode-loop seconds by "worldSize mode", and the BLAS torch used. */
  private final Map<String, Double> referenceSeconds = new LinkedHashMap<>();
  private String referenceBlas = "";

  @Override
  public Integer call() throws Exception {
    return ChildWatch.reportingDeaths(spec, "batch-rpc bench rl", this::run);
  }

  private int run() throws Exception {
    List<Integer> sizes;
    List<AgentMode> ms = new ArrayList<>();
    try {
      sizes = WorldSizes.parse(worldSizes);
      for (String m : modes) {
        ms.add(AgentMode.parse(m));
      }
      for (String d : deployments) {
        if (!d.equals("inproc") && !d.equals("procs")) {
          throw new IllegalArgumentException("--deployments must be inproc and/or procs, got '" + d + "'");
        }
      }
      Nodes.requireSpinMicros("--spin-us", spinUs);
      if (episodes < 1 || steps < 1 || repeats < 1) {
        throw new IllegalArgumentException("--episodes, --steps and --repeats must be at least 1");
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
    BenchDevice.check(spec, device);
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
    // Read by Nodes.start; this process starts only the bench's nodes. Put back when it ends.
    try (ScopedProperties props = new ScopedProperties()) {
      if (eventLoops > 0) {
        props.set(Nodes.EVENT_LOOPS_PROPERTY, Integer.toString(eventLoops));
      }
      if (spinUs > 0) {
        props.set(Nodes.SPIN_US_PROPERTY, Long.toString(spinUs));
      }
      List<Result> results = new ArrayList<>();
      if (deployments.contains("inproc")) {
        Node node = Nodes.start(NodeConfig.local()).await();
        // no child processes: its waits are plain ones
        try (ChildWatch none = new ChildWatch(false)) {
          for (int ws : sizes) {
            for (long seed : seeds) {
              for (int run = 0; run < repeats; run++) {
                for (AgentMode mode : order(ms, run)) {
                  results.add(runInProcess(node, none, ws, mode, ms, seed));
                }
              }
            }
          }
        } finally {
          node.close().await(10, TimeUnit.SECONDS);
        }
      }
      if (deployments.contains("procs")) {
        try (BenchCluster cluster = BenchCluster.start("bench-rl")) {
          for (int ws : sizes) {
            for (long seed : seedsOf("procs")) {
              results.addAll(runProcesses(cluster, ws, ms, seed));
            }
          }
        }
      }
      if (script != null) {
        runReference(script, sizes);
      }
      Map<String, Integer> runCounts = new LinkedHashMap<>();
      deployments.forEach(d -> runCounts.put(d, seedsOf(d).size() * repeats));
      new RlBenchReport(out, episodes, steps, deployments, runCounts, referenceSeconds, referenceBlas, ourCompute())
          .write(results, sizes);
      return 0;
    }
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

  private Result runInProcess(Node node, ChildWatch watch, int ws, AgentMode mode, List<AgentMode> ms, long seed)
      throws Exception {
    long t0 = System.nanoTime();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < ws - 1; i++) {
      ids.add(node.vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(i, seed))).await());
    }
    // Every mode's warm-up, this one's last: the first timed run meets code as warm as the others'.
    for (AgentMode m : ms) {
      if (m != mode) {
        warmUp(node, ws, m, seed, watch);
      }
    }
    warmUp(node, ws, mode, seed, watch);
    long t1 = System.nanoTime();
    AgentVerticle agent = new AgentVerticle(config(ws, mode, seed), node.registry());
    ids.add(0, node.vertx().deployVerticle(agent).await());
    agent.observersReady().await();
    t0 = warmupEpisodes == 0 ? t0 : t1;
    double startup = (System.nanoTime() - t0) / 1e9;
    Result r = episodes(agent, "inproc", ws, mode, seed, startup, t0, watch);
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
    long t0 = System.nanoTime();
    AgentVerticle agent = new AgentVerticle(config(ws, mode, seed + 1), null);
    String id = node.vertx().deployVerticle(agent).await();
    watch.await(agent.observersReady(), 60_000, "the observers did not register with the warm-up agent");
    for (int e = 0; e < warmupEpisodes; e++) {
      watch.await(agent.runEpisode(steps), 0, "");
    }
    node.vertx().undeploy(id).await();
    // Progress on a long sweep (a cold warm-up of world size 11 across processes takes tens of seconds).
    System.out.printf(Locale.ROOT, "[%-6s ws=%2d %-7s] warm-up: %d episodes in %.1f s%n",
        node.vertx().isClustered() ? "procs" : "inproc", ws, mode.cliName(), warmupEpisodes,
        (System.nanoTime() - t0) / 1e9);
  }

  private List<Result> runProcesses(BenchCluster cluster, int ws, List<AgentMode> ms, long seed) throws Exception {
    Node node = cluster.node();
    long t0 = System.nanoTime();
    List<Result> done = new ArrayList<>();
    // Observers serve until the bench ends them: any exit before is a death, and every wait below
    // ends at once with the dead observer's id, exit code and log (the agent would otherwise go on
    // with the observers left, and the figures would be of a smaller world).
    try (ChildWatch watch = new ChildWatch(false)) {
      List<CompletableFuture<String>> ready = new ArrayList<>();
      out.mkdirs();
      for (int i = 0; i < ws - 1; i++) {
        ChildJvm observer = watch.add(startObserver(cluster, i, ws, seed));
        ready.add(observer.line(l -> l.startsWith("observer ") && l.contains(" ready ")));
      }
      watch.await(CompletableFuture.allOf(ready.toArray(CompletableFuture[]::new)), 180_000,
          () -> "observer processes did not start within 180 s; see "
          + new File(out, "rl-observer-*.log"));
      double spawn = (System.nanoTime() - t0) / 1e9;
      // Both modes' warm-ups before either timed run: otherwise the first mode alone meets the
      // fresh processes' colder code (measured: whichever mode ran first was up to 2x slower).
      for (AgentMode mode : ms) {
        warmUp(node, ws, mode, seed, watch);
      }
      for (int run = 0; run < repeats; run++) {
        for (AgentMode mode : order(ms, run)) {
          long t1 = System.nanoTime();
          AgentVerticle agent = new AgentVerticle(config(ws, mode, seed), node.registry());
          String id = node.vertx().deployVerticle(agent).await();
          // The agent announces its start; each observer process registers again.
          watch.await(agent.observersReady(), 60_000, "the observers did not register with the agent in 60 s");
          double startup = spawn + (System.nanoTime() - t1) / 1e9;
          done.add(episodes(agent, "procs", ws, mode, seed, startup, t1, watch));
          node.vertx().undeploy(id).await();
          spawn = 0;
        }
      }
    }
    return done;
  }

  /**
   * The modes in the order of timed run {@code run}: as given, then reversed, alternately (ABBA):
   * a drift over the runs (the JIT still compiling, the scheduler's placement of the processes)
   * then weighs on both modes alike.
   */
  static List<AgentMode> order(List<AgentMode> ms, int run) {
    if (run % 2 == 0) {
      return ms;
    }
    List<AgentMode> reversed = new ArrayList<>(ms);
    Collections.reverse(reversed);
    return reversed;
  }

  private ChildJvm startObserver(BenchCluster cluster, int index, int ws, long seed) throws IOException {
    // JvmFlags.COMMON (exit on OutOfMemoryError, ...) is added whatever --observer-java-opts says.
    return cluster.spawn("observer process " + index + " (of world size " + ws + ")", observerJvmOptions(), Map.of(),
        new File(out, "rl-observer-" + index + ".log").toPath(), "observer",
        List.of("--index", Integer.toString(index), "--seed", Long.toString(seed)));
  }

  /**
   * An observer process's JVM options: the bench's settings ({@code --event-loops}, {@code --spin-us}),
   * then {@code --observer-java-opts}, whose {@code -D} of the same property wins (the JVM keeps
   * the last of two).
   */
  List<String> observerJvmOptions() {
    List<String> opts = new ArrayList<>();
    if (eventLoops > 0) {
      opts.add("-D" + Nodes.EVENT_LOOPS_PROPERTY + "=" + eventLoops);
    }
    if (spinUs > 0) {
      opts.add("-D" + Nodes.SPIN_US_PROPERTY + "=" + spinUs);
    }
    for (String o : observerJavaOpts().trim().split("\\s+")) {
      if (!o.isEmpty()) {
        opts.add(o);
      }
    }
    return opts;
  }

  private Result episodes(AgentVerticle agent, String deployment, int ws, AgentMode mode, long seed,
                          double startup, long t0, ChildWatch watch) throws Exception {
    agent.drainLatencies().await();
    double loop = 0;
    double[] running = new double[episodes];
    for (int e = 0; e < episodes; e++) {
      EpisodeResult r = watch.await(agent.runEpisode(steps), 0, "");
      loop += r.seconds();
      running[e] = r.runningReward();
    }
    LatencyLog.Summary lat = agent.drainLatencies().await();
    double run = (System.nanoTime() - t0) / 1e9;
    Result result = new Result(deployment, ws, mode.cliName(), seed, loop, run, startup, lat, running);
    System.out.printf(Locale.ROOT, "[%-6s ws=%2d %-7s seed=%d] %d episodes x %d steps: loop %.3f s "
            + "(start-up %.2f s), %d actions = %.0f actions/s, latency p50 %.0f us p99 %.0f us, running reward %.1f%n",
        deployment, ws, mode.cliName(), seed, episodes, steps, loop, startup, lat.count(), result.actionsPerSecond(),
        lat.p50Us(), lat.p99Us(), running[episodes - 1]);
    return result;
  }
}
