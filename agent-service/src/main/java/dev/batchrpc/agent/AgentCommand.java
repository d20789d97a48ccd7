package dev.batchrpc.agent;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import java.io.PrintStream;
import dev.batchrpc.runtime.cli.DataPortOption;
import dev.batchrpc.runtime.cli.DeviceOption;
import dev.batchrpc.runtime.cli.EnvDefaults;
import dev.batchrpc.runtime.cli.GrpcOptions;
import dev.batchrpc.runtime.cli.NodeOptions;
import dev.batchrpc.runtime.cli.OpsOptions;
import dev.batchrpc.runtime.cli.ServiceLauncher;
import dev.batchrpc.runtime.cli.ServiceLauncher.Plan;
import dev.batchrpc.runtime.cli.ServiceLauncher.Started;
import dev.batchrpc.runtime.data.DataChannelConfig;
import dev.batchrpc.runtime.node.ClusterRoles;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.round.PartialPolicy;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc agent}: trains the CartPole policy for a number of episodes with N observers,
 * printing one progress line per episode. Without {@code --clustered} the observers run in the
 * same process (deployed by the {@link LocalObservers} the command was made with); with it, the
 * agent waits for N {@code batch-rpc observer} processes to register.
 */
@Command(name = "agent", mixinStandardHelpOptions = true,
    defaultValueProvider = EnvDefaults.class,
    description = {
        "Runs the batch-processing CartPole agent (the tutorial's REINFORCE policy, Adam).",
        "Each episode: every observer runs --steps steps, asking the agent for an action at every",
        "step (batch mode: one forward pass per step for all observers); then one update.",
        "Without --clustered, the N observers run in this process. With --clustered, start",
        "'batch-rpc observer --clustered --index i' for i = 0..N-1 with the same --seed.",
        ""
    })
public final class AgentCommand implements Callable<Integer> {

  private final LocalObservers localObservers;

  @Spec
  CommandSpec spec;

  @Mixin
  NodeOptions node;

  @Mixin
  OpsOptions ops;

  @Option(names = "--observers", defaultValue = "1",
      description = "Number of observers N (world size N+1), ids observer-0..N-1. "
          + "Default: ${DEFAULT-VALUE}.")
  int observers;

  @Option(names = "--episodes", defaultValue = "10",
      description = "Episodes to run. Default: ${DEFAULT-VALUE}.")
  int episodes;

  @Option(names = "--steps", defaultValue = "500",
      description = "Steps per observer per episode (n_steps). Default: ${DEFAULT-VALUE}.")
  int steps;

  @Option(names = "--mode", defaultValue = "batch",
      description = "batch (one forward pass per step for all observers) or nobatch (one per request). "
          + "Default: ${DEFAULT-VALUE}.")
  String mode;

  @Option(names = "--seed", defaultValue = "543",
      description = "The run's seed (observers need the same; 543 as in the tutorial). "
          + "Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--gamma", defaultValue = "1.0",
      description = "Discount of the reward-to-go, in [0, 1]. Default: ${DEFAULT-VALUE}.")
  double gamma;

  @Option(names = "--lr", defaultValue = "0.01",
      description = "Adam's learning rate. Default: ${DEFAULT-VALUE}.")
  float lr;

  @Mixin
  DeviceOption device;

  @Mixin
  GrpcOptions grpc;

  @Mixin
  DataPortOption data;

  @Option(names = "--episode-timeout-ms", defaultValue = "600000",
      description = "Longest an observer's episode may take. "
          + "Default: ${DEFAULT-VALUE}.")
  long episodeTimeoutMs;

  @Option(names = "--max-wait-ms", defaultValue = "10000",
      description = "Close a step round this long after its first state even if not all observers "
          + "sent theirs (an observer lost without a trace); 0 waits for all. Observers whose node "
          + "leaves the cluster stop counting at once. Default: ${DEFAULT-VALUE}.")
  long maxWaitMs;

  @Option(names = "--partial-policy", defaultValue = "run",
      description = "What a step round closed by --max-wait-ms does: run (answer the observers that "
          + "arrived; the missing ones sit out the rest of the episode) or fail (the episode fails). "
          + "Default: ${DEFAULT-VALUE}.")
  String partialPolicy;

  @Option(names = "--register-timeout-s", defaultValue = "300",
      description = "With --clustered: how long to wait for the observers to register (all of them, or the "
          + "first one with --start-wait-ms). Default: ${DEFAULT-VALUE}.")
  int registerTimeoutS;

  @Option(names = "--start-wait-ms", defaultValue = "10000",
      description = "With --clustered and --partial-policy run: begin the first episode this long after the first "
          + "observer registered even if not all have, with those registered (the others take part from "
          + "the episode after they register: a restarted agent does not wait for an observer that is down); "
          + "0 waits for all (up to --register-timeout-s). Default: ${DEFAULT-VALUE}.")
  long startWaitMs;

  /** A command for clustered runs only: it has no observers to deploy in its own process. */
  public AgentCommand() {
    this(null);
  }

  /**
   * A command whose runs without {@code --clustered} deploy their observers beside the agent.
   *
   * @param localObservers deploys the observers in this process, or null for clustered runs only
   */
  public AgentCommand(LocalObservers localObservers) {
    this.localObservers = localObservers;
  }

  @Override
  public Integer call() throws Exception {
    return ServiceLauncher.of(spec, ops, "consumers", "model").run(() -> {
      if (episodes < 1) {
        throw new IllegalArgumentException("--episodes must be at least 1, got " + episodes);
      }
      if (steps < 1 || steps > Addresses.MAX_EPISODE_STEPS) {
        throw new IllegalArgumentException("--steps must be 1 to " + Addresses.MAX_EPISODE_STEPS + ", got " + steps);
      }
      if (registerTimeoutS < 1) {
        throw new IllegalArgumentException("--register-timeout-s must be at least 1, got " + registerTimeoutS);
      }
      NodeConfig nodeConfig = node.toConfig();
      if (!nodeConfig.clustered() && localObservers == null) {
        throw new IllegalArgumentException("this agent has no observers to run in its own process: add "
            + "--clustered and start 'batch-rpc observer --clustered --index i' for i = 0..N-1");
      }
      AgentConfig config = AgentConfig.of(observers, AgentMode.parse(mode), seed)
          .withTraining(gamma, lr, device.value()).withGrpc(grpc.host(), grpc.port()).withEpisodeTimeoutMs(episodeTimeoutMs)
          .withRoundWait(maxWaitMs, PartialPolicy.parse(partialPolicy) == PartialPolicy.RUN_PARTIAL)
          .withStartWait(nodeConfig.clustered() ? startWaitMs : 0);
      DataChannelConfig dataChannel = DataChannelConfig.of(nodeConfig, data.port());
      return new Plan<>(nodeConfig, started -> train(started, config, dataChannel));
    });
  }

  /** Deploys the agent and its observers (or waits for them), then runs the episodes. */
  private int train(Started started, AgentConfig config, DataChannelConfig dataChannel) throws Exception {
    Node n = started.node();
    // one agent per cluster: a second one on the same --cluster-name refuses to start, naming the first
    ClusterRoles.claim(n, "agent").await();
    AgentVerticle agent = new AgentVerticle(config, n.registry(), dataChannel);
    n.vertx().deployVerticle(agent).await();
    started.readiness().set("model", true);
    started.readiness().set("consumers", true);
    System.out.println("agent: " + started.opsLine());
    System.out.printf(Locale.ROOT, "agent: %d observer(s), mode %s, %d episode(s) x %d steps, seed %d%s%n",
        config.observers(), config.mode().cliName(), episodes, steps, seed,
        (agent.grpcPort() > 0 ? ", gRPC on " + grpc.host() + ":" + agent.grpcPort() : "")
            + (agent.dataPort() < 0 ? "" : ", data channel on " + dataChannel.bindHost() + ":" + agent.dataPort()));
    if (!n.isClustered()) {
      localObservers.deploy(n.vertx(), config).await();
    } else {
      awaitObservers(agent, config);
    }
    agent.observersReady().await(registerTimeoutS, TimeUnit.SECONDS);
    long t0 = System.nanoTime();
    // Clustered, an episode every observer left (killed, partitioned away) is run again once some
    // are back, for up to --register-timeout-s, instead of ending the agent's run.
    Episodes run = runEpisodes(agent::runEpisode, episodes, steps,
        n.isClustered() ? TimeUnit.SECONDS.toNanos(registerTimeoutS) : 0, System.out);
    EpisodeResult last = run.last();
    LatencyLog.Summary lat = agent.drainLatencies().await();
    System.out.printf(Locale.ROOT, "done: %d episode(s) in %.3f s, running reward %.2f; action latency "
            + "p50 %.0f us, p90 %.0f us, p99 %.0f us (%d requests)%s%n",
        episodes, (System.nanoTime() - t0) / 1e9, last.runningReward(), lat.p50Us(), lat.p90Us(), lat.p99Us(),
        lat.count(), run.failed() == 0 ? "" : "; " + run.failed() + " episode(s) every observer left were run again");
    return 0;
  }

  /** Runs one episode of {@code steps} steps. */
  @FunctionalInterface
  interface EpisodeRunner {
    Future<EpisodeResult> run(int steps);
  }

  /** The last episode's result, and how many episodes failed for want of observers and were run again. */
  record Episodes(EpisodeResult last, int failed) {
  }

  /**
   * Runs {@code episodes} episodes, printing a line each. An episode that fails {@code UNAVAILABLE}
   * (every observer left or sat out, or none is live) is run again after half a second, as long as
   * such failures have not lasted {@code retryNanos} in a row (0: never); any other failure ends the
   * run at once.
   */
  static Episodes runEpisodes(EpisodeRunner agent, int episodes, int steps, long retryNanos, PrintStream out)
      throws Exception {
    EpisodeResult last = null;
    int failed = 0;
    long failingSince = -1;
    for (int e = 0; e < episodes; ) {
      try {
        last = agent.run(steps).toCompletionStage().toCompletableFuture().get();
      } catch (java.util.concurrent.ExecutionException x) {
        RpcException r = RpcException.of(x.getCause());
        long now = System.nanoTime();
        if (failingSince < 0) {
          failingSince = now;
        }
        if (r.code() != FailureCode.UNAVAILABLE || now - failingSince >= retryNanos) {
          throw r;
        }
        failed++;
        out.printf(Locale.ROOT, "agent: episode failed (%s); running it again once observers are back (for up to "
            + "%d s in all)%n", r.getMessage(), TimeUnit.NANOSECONDS.toSeconds(retryNanos));
        Thread.sleep(500);
        continue;
      }
      failingSince = -1;
      e++;
      out.printf(Locale.ROOT, "episode %3d  running reward %7.2f  episode reward %6.1f  loss %10.2f  %.3f s%n",
          last.episode() + 1, last.runningReward(), last.episodeReward(), last.loss(), last.seconds());
    }
    return new Episodes(last, failed);
  }

  private void awaitObservers(AgentVerticle agent, AgentConfig config) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(registerTimeoutS);
    while (!agent.observersReady().isComplete()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("not all " + config.observers() + " observers registered within "
            + registerTimeoutS + " s (--register-timeout-s); start 'batch-rpc observer --clustered --index i'");
      }
      System.out.println("agent: waiting for " + config.observers() + " observer(s) to register ...");
      try {
        agent.observersReady().await(5, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException stillWaiting) {
        // Print the line again.
      }
    }
  }
}
