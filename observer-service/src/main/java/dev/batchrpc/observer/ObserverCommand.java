package dev.batchrpc.observer;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.runtime.cli.EnvDefaults;
import dev.batchrpc.runtime.cli.NodeOptions;
import dev.batchrpc.runtime.cli.OpsOptions;
import dev.batchrpc.runtime.cli.ServiceLauncher;
import dev.batchrpc.runtime.cli.ServiceLauncher.Plan;
import dev.batchrpc.runtime.cli.ServiceLauncher.Started;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc observer}: one CartPole observer on the clustered event bus, running episodes for
 * the agent until stopped (SIGTERM or Ctrl-C closes it cleanly).
 */
@Command(name = "observer", mixinStandardHelpOptions = true,
    defaultValueProvider = EnvDefaults.class,
    description = {
        "Runs one CartPole-v1 observer: it joins the cluster, registers with the agent and runs",
        "each episode the agent asks for, requesting an action at every step.",
        "Start the agent with --observers N and N observers with --index 0..N-1 (same --seed).",
        ""
    })
public final class ObserverCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  NodeOptions node;

  @Mixin
  OpsOptions ops;

  @Option(names = "--index", defaultValue = "0",
      description = "This observer's index among the agent's observers (0..N-1); picks its "
          + "environment's random stream; -1 claims the next free index from a cluster-wide counter "
          + "(for replicas that cannot be numbered, e.g. compose --scale). "
          + "Default: ${DEFAULT-VALUE}.")
  int index;

  @Option(names = "--id",
      description = "The observer's id ([A-Za-z0-9_.-]+). Default: observer-<index>, "
          + "the id the agent expects.")
  String id;

  @Option(names = "--seed", defaultValue = "543",
      description = "The run's seed (give the agent the same one; 543 as in the tutorial). "
          + "Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--action-timeout-ms", defaultValue = "60000",
      description = "How long one action request may wait for the agent. "
          + "Default: ${DEFAULT-VALUE}.")
  long actionTimeoutMs;

  @Override
  public Integer call() throws Exception {
    // "agent": registered with an agent, i.e. in its rounds; DOWN with the reason while not
    // (no agent yet, the agent restarted, this node was cut off), until it registers again.
    return ServiceLauncher.of(spec, ops, "consumers", "agent").serve(() -> {
      NodeConfig nodeConfig = node.toConfig();
      if (index < -1) {
        throw new IllegalArgumentException("--index must be >= 0, or -1 for the next free one; got " + index);
      }
      // Validates the other settings now; with --index -1 rebuilt once the index is claimed.
      ObserverConfig config = new ObserverConfig(
          id == null || id.isBlank() ? Addresses.defaultObserverId(Math.max(index, 0)) : id,
          Math.max(index, 0), seed, actionTimeoutMs, true);
      if (!nodeConfig.clustered()) {
        throw new IllegalArgumentException("an observer alone has no agent to talk to: "
            + "add --clustered (and --cluster-members of the agent's node), or run the agent with its "
            + "observers in one process: 'batch-rpc agent --observers N'");
      }
      return new Plan<>(nodeConfig, started -> deploy(started, config));
    });
  }

  /**
   * Exits 1 with the agent's refusal, off the event loop (the exit runs the launcher's shutdown
   * hook, which closes the node and needs the event loops free).
   */
  private void exitRefused(String observerId, Throwable e) {
    java.io.PrintWriter err = spec.commandLine().getErr();
    err.println(spec.qualifiedName() + ": the agent refused observer '" + observerId + "': " + e.getMessage());
    err.flush();
    new Thread(() -> System.exit(1), "observer-refused").start();
  }

  /** Claims the index when {@code --index -1}, deploys the observer and prints its start lines. */
  private void deploy(Started started, ObserverConfig validated) {
    Node n = started.node();
    ObserverConfig config = validated;
    if (index < 0) {
      // One counter per cluster (per cluster name): replicas get 0, 1, 2, ... in start order.
      int claimed = Math.toIntExact(n.vertx().sharedData().getCounter("batchrpc.observer.next-index")
          .compose(c -> c.getAndIncrement()).await());
      config = new ObserverConfig(id == null || id.isBlank() ? Addresses.defaultObserverId(claimed) : id,
          claimed, seed, actionTimeoutMs, true);
    }
    ObserverVerticle observer = new ObserverVerticle(config).onRegistration((registered, reason) -> {
      if (registered) {
        started.readiness().set("agent", true);
      } else {
        started.readiness().down("agent", reason);
      }
    });
    n.vertx().deployVerticle(observer).await();
    String observerId = config.id();
    // A refusal for good (another observer is live under this id): a loud exit, not an idle process.
    observer.refused().onFailure(e -> exitRefused(observerId, e));
    started.readiness().set("consumers", true);
    System.out.println("observer " + config.id() + ": " + started.opsLine());
    // The bench and scripts wait for this exact line.
    System.out.println("observer " + config.id() + " ready (index " + config.index() + ", seed "
        + config.seed() + ", node " + n.nodeId() + ")");
    System.out.flush();
  }
}
