package dev.batchrpc.suite.bench;

import dev.batchrpc.suite.bench.chaos.ChaosRun;
import dev.batchrpc.suite.bench.chaos.Fault;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc bench chaos}: the parameter server with its trainers and the agent with its
 * observers, each an OS process clustered on loopback, run for a given time while seeded random
 * faults hit them (SIGKILL and restart, SIGSTOP and SIGCONT, servers included); see
 * {@link ChaosRun} for what is checked.
 *
 * <p>Exit status: 0 when there was no hang, no false success, no silent failure and the heap was
 * flat; 1 otherwise; 2 for invalid options.
 */
@Command(name = "chaos", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Chaos soak: 'ps' with --trainers trainers and 'agent' with --observers observers, every one an",
        "OS process clustered on 127.0.0.1, run for --duration-s while seeded random faults hit them",
        "about every --fault-every-s: SIGKILL then a restart, or SIGSTOP then SIGCONT, of a trainer, an",
        "observer, the ps or the agent (--faults). Checks: no service stalls longer than --stall-s while",
        "it has live participants (a hang), and every service makes progress again after the last fault;",
        "every process exits on SIGTERM; every trainer that says 'done' had its gradient in as many",
        "steps of the ps's --round-log as it claims (else: a false success); every other exit names",
        "its reason (else: a silent failure); the heap after a full GC (jcmd) of the servers and",
        "observers is flat. Prints progress, a report and the verdict; writes logs and CSV.",
        "Exits 1 on a hang, a false success, a silent failure or a growing heap.",
        ""})
public final class ChaosBench implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Option(names = "--duration-s", defaultValue = "600",
      description = "How long faults are injected, in seconds. Default: ${DEFAULT-VALUE}.")
  int durationS;

  @Option(names = "--fault-every-s", defaultValue = "15",
      description = "Mean seconds between two faults (each gap is 0.5-1.5 times this). Default: ${DEFAULT-VALUE}.")
  double faultEveryS;

  @Option(names = "--faults", defaultValue = "all",
      description = "Faults to inject, comma-separated: kill-trainer, stop-trainer, kill-observer, stop-observer, "
          + "kill-ps, stop-ps, kill-agent, stop-agent, or all (participants' faults twice as often as the "
          + "servers'). Default: ${DEFAULT-VALUE}.")
  String faults;

  @Option(names = "--seed", defaultValue = "1",
      description = "Seed of the fault plan (kinds, times, targets, durations). Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--trainers", defaultValue = "3",
      description = "Trainer processes (and the ps's round size). Default: ${DEFAULT-VALUE}.")
  int trainers;

  @Option(names = "--batches", defaultValue = "20000",
      description = "Rounds per trainer run; a trainer that finishes is checked and started again "
          + "(about 2 minutes a run here; 2000 restarts every trainer every 10-15 s, membership churn "
          + "far above a deployment's, see docs/fault-tolerance.md). Default: ${DEFAULT-VALUE}.")
  int batches;

  @Option(names = "--layers", defaultValue = "32,32,4",
      description = "The ps's MLP (trainers learn the synthetic task). Default: ${DEFAULT-VALUE}.")
  String layers;

  @Option(names = "--observers", defaultValue = "3",
      description = "Observer processes (the agent's round size). Default: ${DEFAULT-VALUE}.")
  int observers;

  @Option(names = "--episodes", defaultValue = "5000",
      description = "Episodes per agent run; an agent that finishes is started again. Default: ${DEFAULT-VALUE}.")
  int episodes;

  @Option(names = "--steps", defaultValue = "100",
      description = "Steps per episode. Default: ${DEFAULT-VALUE}.")
  int steps;

  @Option(names = "--member-timeout-s", defaultValue = "3",
      description = "Every process's --member-timeout-s (SIGSTOPs last 1 s to twice this, so some are "
          + "dropped and must rejoin). Default: ${DEFAULT-VALUE}.")
  int memberTimeoutS;

  @Option(names = "--max-wait-ms", defaultValue = "5000",
      description = "The ps's and the agent's --max-wait-ms. Default: ${DEFAULT-VALUE}.")
  int maxWaitMs;

  @Option(names = "--stall-s", defaultValue = "30",
      description = "A service with live participants that makes no progress for longer than this hangs "
          + "(it covers a restart: JVM start, cluster join, the trainers' retry backoff). Default: ${DEFAULT-VALUE}.")
  int stallS;

  @Option(names = "--heap-every-s", defaultValue = "5",
      description = "Seconds between two heap samples (jcmd GC.run, then GC.heap_info) of the ps, the agent "
          + "and the observers, in turn; 0: none. Default: ${DEFAULT-VALUE}.")
  int heapEveryS;

  @Option(names = "--heap-warmup-s", defaultValue = "60",
      description = "A process's samples before this age are left out of its heap slope. Default: ${DEFAULT-VALUE}.")
  int heapWarmupS;

  @Option(names = "--max-slope-mb-per-min", defaultValue = "1.0",
      description = "The heap is flat when its slope after the warm-up is below this: within all runs of a role "
          + "pooled, and within each run, wherever there are at least 6 samples over 120 s. Default: ${DEFAULT-VALUE}.")
  double maxSlope;

  @Option(names = "--java-opts", defaultValue = "-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
      description = "JVM options of every child process. Default: ${DEFAULT-VALUE}.")
  String javaOpts;

  @Option(names = "--out", defaultValue = "bench-results",
      description = "Directory for the run's folder (logs, checkpoints, round log, CSV). Default: ${DEFAULT-VALUE}.")
  Path out;

  @Override
  public Integer call() throws Exception {
    validate();
    ChaosRun.Report r = run(System.out);
    return r.passed() ? 0 : 1;
  }

  /** Checks the options; a bad one is a usage error (exit 2) naming the flag. */
  void validate() {
    List<String> problems = new ArrayList<>();
    if (durationS < 1) {
      problems.add("--duration-s must be >= 1, got " + durationS);
    }
    if (!(faultEveryS >= 0.5)) {
      problems.add("--fault-every-s must be >= 0.5, got " + faultEveryS);
    }
    try {
      Fault.parseList(faults);
    } catch (IllegalArgumentException e) {
      problems.add(e.getMessage());
    }
    if (trainers < 1 || observers < 1) {
      problems.add("--trainers and --observers must be >= 1, got " + trainers + " and " + observers);
    }
    if (batches < 1 || episodes < 1 || steps < 1) {
      problems.add("--batches, --episodes and --steps must be >= 1");
    }
    try {
      int[] sizes = Arrays.stream(layers.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
      if (sizes.length < 2 || Arrays.stream(sizes).anyMatch(s -> s < 1)) {
        problems.add("--layers needs at least 2 sizes >= 1, got '" + layers + "'");
      }
    } catch (NumberFormatException e) {
      problems.add("--layers must be comma-separated integers, got '" + layers + "'");
    }
    if (memberTimeoutS < 2 || memberTimeoutS > 600) {
      problems.add("--member-timeout-s must be 2-600, got " + memberTimeoutS);
    }
    if (maxWaitMs < 1) {
      problems.add("--max-wait-ms must be >= 1, got " + maxWaitMs);
    }
    if (stallS < 1) {
      problems.add("--stall-s must be >= 1, got " + stallS);
    }
    if (heapEveryS < 0 || heapWarmupS < 0) {
      problems.add("--heap-every-s and --heap-warmup-s must be >= 0");
    }
    if (!(maxSlope > 0)) {
      problems.add("--max-slope-mb-per-min must be > 0, got " + maxSlope);
    }
    if (!problems.isEmpty()) {
      throw new ParameterException(spec.commandLine(), String.join("; ", problems));
    }
  }

  /** Runs the chaos soak, printing progress and the report on {@code lines}. */
  public ChaosRun.Report run(PrintStream lines) throws Exception {
    ChaosRun.Settings s = new ChaosRun.Settings(durationS, faultEveryS, Fault.parseList(faults), seed, trainers,
        batches, layers.replace(" ", ""), observers, episodes, steps, memberTimeoutS, maxWaitMs, stallS, heapEveryS,
        heapWarmupS, maxSlope, List.of(javaOpts.trim().split("\\s+")), out);
    // This JVM's node (the cluster's oldest member: its master while it lives) sees members die
    // and split all the time, which is the point: Hazelcast's lines go to a file of their own
    // (INFO: membership and partition changes), not into the report.
    java.nio.file.Files.createDirectories(out);
    Path nodeLog = out.resolve("chaos-bench-node.log");
    java.util.logging.Logger hazelcast = java.util.logging.Logger.getLogger("com.hazelcast");
    java.util.logging.Level level = hazelcast.getLevel();
    boolean parents = hazelcast.getUseParentHandlers();
    java.util.logging.FileHandler file = new java.util.logging.FileHandler(nodeLog.toString(), true);
    file.setFormatter(new java.util.logging.SimpleFormatter());
    try (BenchCluster cluster = BenchCluster.start("chaos", memberTimeoutS)) {
      // after the node's start, which sets the level
      hazelcast.setLevel(java.util.logging.Level.INFO);
      hazelcast.setUseParentHandlers(false);
      hazelcast.addHandler(file);
      lines.println("[bench chaos] this process's cluster node logs to " + nodeLog);
      ChaosRun.Spawner spawner = (member, role, jvm, log, args) ->
          cluster.spawn(member, jvm, java.util.Map.of(), log, role.command(), args);
      return new ChaosRun(s, spawner, lines).run();
    } finally {
      hazelcast.removeHandler(file);
      file.close();
      hazelcast.setUseParentHandlers(parents);
      hazelcast.setLevel(level);
    }
  }
}
