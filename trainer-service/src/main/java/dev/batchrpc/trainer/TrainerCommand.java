package dev.batchrpc.trainer;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.cli.EnvDefaults;
import dev.batchrpc.runtime.cli.NodeOptions;
import dev.batchrpc.runtime.cli.OpsOptions;
import dev.batchrpc.runtime.cli.ServiceLauncher;
import dev.batchrpc.runtime.cli.ServiceLauncher.Plan;
import dev.batchrpc.runtime.cli.ServiceLauncher.Started;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code batch-rpc trainer}: one trainer against a running parameter server. */
@Command(name = "trainer", mixinStandardHelpOptions = true, sortOptions = false,
    defaultValueProvider = EnvDefaults.class,
    description = {
        "Runs one trainer: fetches the model from the parameter server, then for --batches rounds",
        "computes a gradient on its data, joins the server's round (update-and-fetch) and applies",
        "the new model. Start the server first ('batch-rpc ps'); with --clustered, point",
        "--cluster-members at it.",
        ""})
public final class TrainerCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  NodeOptions node;

  @Mixin
  OpsOptions ops;

  @Option(names = "--id",
      description = "This trainer's id, unique per round ([A-Za-z0-9_.-]+). "
          + "Default: trainer-<process id> (in a container, where the process id is 1: trainer-<host name>).")
  String id;

  @Option(names = "--batches", defaultValue = "200",
      description = "Rounds to take part in. Default: ${DEFAULT-VALUE}.")
  int batches;

  @Option(names = "--batch-size", defaultValue = "20",
      description = "Samples per batch. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--task", defaultValue = "synthetic",
      description = "synthetic (a learnable seeded classification task: the loss falls), mse (the "
          + "tutorial's random inputs and labels) or replay (a fixed pre-made gradient, no compute; "
          + "pair with 'ps --model replay'). Default: ${DEFAULT-VALUE}.")
  String task;

  @Option(names = "--layers", defaultValue = "784,256,10",
      description = "MLP layer sizes, the same as the server's. Default: ${DEFAULT-VALUE}.")
  String layers;

  @Option(names = "--seed", defaultValue = "0",
      description = "Task seed (the same for all trainers of a run; each trainer's batches also "
          + "depend on its id). Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--timeout-ms", defaultValue = "120000",
      description = "Longest wait for one round's reply. Default: ${DEFAULT-VALUE}.")
  long timeoutMs;

  @Option(names = "--wait-for-ps-ms", defaultValue = "30000",
      description = "How long to retry the first model fetch while the server is not reachable yet. "
          + "Default: ${DEFAULT-VALUE}.")
  long waitForPsMs;

  @Option(names = "--retry-timeout-s", defaultValue = "60",
      description = "How long to keep retrying (backoff 0.2 s doubling to 2 s) when the parameter server "
          + "is lost mid-run, e.g. restarted from a checkpoint; each retry fetches the model again and "
          + "recomputes. 0 ends the run at the first outage. Default: ${DEFAULT-VALUE}.")
  long retryTimeoutS;

  @Option(names = "--ps-grpc", defaultValue = "",
      description = "Reach the parameter server over gRPC at HOST:PORT (its --grpc-port) instead of the "
          + "clustered event bus: for a trainer outside the cluster. TLS with --tls-* when set.")
  String psGrpc;

  @Option(names = "--progress-every", defaultValue = "10",
      description = "Print a progress line every N rounds (0: only the summary). "
          + "Default: ${DEFAULT-VALUE}.")
  int progressEvery;

  /** Runs the command alone (the suite's {@code batch-rpc trainer} is the usual entry point). */
  public static void main(String[] args) {
    System.exit(ServiceLauncher.commandLine(new TrainerCommand()).execute(args));
  }

  /** Builds the task from the options; errors name the flag. */
  GradientTask buildTask(String trainerId) {
    String t = task.trim().toLowerCase(Locale.ROOT);
    if (t.equals("replay")) {
      return new ReplayTask();
    }
    int[] sizes;
    try {
      sizes = Arrays.stream(layers.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--layers must be comma-separated integers like 784,256,10, got '"
          + layers + "'");
    }
    if (sizes.length < 2 || Arrays.stream(sizes).anyMatch(s -> s < 1)) {
      throw new IllegalArgumentException("--layers needs at least 2 sizes >= 1, got '" + layers + "'");
    }
    return new ClassificationTask(t, sizes, batchSize, seed, trainerId);
  }

  @Override
  public Integer call() throws Exception {
    // "rounds": the last call to the server was answered (ReadinessPsClient); DOWN with the
    // reason while the trainer rides out an outage or rejoins after a split.
    return ServiceLauncher.of(spec, ops, "model", ReadinessPsClient.CONDITION).run(() -> {
      String trainerId = id == null || id.isBlank() ? defaultId() : id.trim();
      if (!dev.batchrpc.proto.Addresses.isValidId(trainerId)) {
        throw new IllegalArgumentException("--id must be 1-" + dev.batchrpc.proto.Addresses.MAX_ID_LENGTH
            + " characters from [A-Za-z0-9_.-], got '" + trainerId + "'");
      }
      if (timeoutMs < 1 || waitForPsMs < 0 || progressEvery < 0 || batches < 1) {
        throw new IllegalArgumentException("--timeout-ms must be >= 1, --wait-for-ps-ms and "
            + "--progress-every >= 0, --batches >= 1");
      }
      if (retryTimeoutS < 0 || retryTimeoutS > Duration.ofDays(1).toSeconds()) {
        throw new IllegalArgumentException("--retry-timeout-s must be in [0, 86400], got " + retryTimeoutS);
      }
      GradientTask gradientTask = buildTask(trainerId);
      SocketAddress grpcServer = psGrpc == null || psGrpc.isBlank() ? null : parseHostPort(psGrpc.trim());
      return new Plan<>(node.toConfig(), started -> train(started, trainerId, gradientTask, grpcServer));
    });
  }

  /** Fetches the model (waiting for the server), then takes part in {@code --batches} rounds. */
  private int train(Started started, String trainerId, GradientTask gradientTask, SocketAddress grpcServer) {
    Vertx vertx = started.node().vertx();
    PsClient client = new ReadinessPsClient(grpcServer == null ? PsClient.eventBus(vertx, timeoutMs)
        // the server's limits bound the messages; the client accepts any model it sends
        : PsClient.grpc(vertx, grpcServer, Integer.MAX_VALUE, timeoutMs), started.readiness());
    waitForServer(vertx, client, trainerId, System.nanoTime() + waitForPsMs * 1_000_000).await();
    started.readiness().set("model", true);
    System.out.println("trainer " + trainerId + ": " + started.opsLine());
    System.out.println("trainer " + trainerId + ": " + gradientTask.describe() + ", " + batches + " rounds");
    Trainer trainer = new Trainer(vertx, client, trainerId, gradientTask, batches, p -> {
      if (progressEvery > 0 && (p.round() % progressEvery == 0 || p.round() == 1)) {
        System.out.printf(Locale.ROOT, "trainer %s: round %d/%d%s model v%d %.1f rounds/s%n",
            p.trainerId(), p.round(), p.batches(), p.lossText(), p.modelVersion(), p.roundsPerSecond());
      }
    }, Duration.ofSeconds(retryTimeoutS));
    Trainer.Summary s = trainer.run().await();
    System.out.printf(Locale.ROOT, "trainer %s: done: %d rounds%s, model v%d, %.1f rounds/s "
            + "(per round: compute %.2f ms, update-and-fetch %.2f ms, load %.2f ms)%n",
        s.trainerId(), s.rounds(), s.lossText(), s.finalVersion(), s.roundsPerSecond(),
        s.msPerRound(s.computeNanos()), s.msPerRound(s.updateNanos()), s.msPerRound(s.loadNanos()));
    if (s.outages() > 0) {
      System.out.printf(Locale.ROOT, "trainer %s: rode out %d parameter-server outage(s): %.1f s, %d retries, "
          + "%d round(s) redone%n", s.trainerId(), s.outages(), s.outageNanos() / 1e9, s.outageRetries(),
          s.roundsRedone());
    }
    return 0;
  }

  /** {@code --ps-grpc}'s HOST:PORT. */
  static SocketAddress parseHostPort(String text) {
    return dev.batchrpc.runtime.net.Ports.parseHostPort(text, "--ps-grpc");
  }


  /**
   * trainer-&lt;pid&gt;, unique per machine; in a container every trainer is process 1, so there the
   * host name (the container's or pod's, unique in the cluster) stands in.
   */
  static String defaultId() {
    long pid = ProcessHandle.current().pid();
    if (pid != 1) {
      return "trainer-" + pid;
    }
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      host = System.getenv().getOrDefault("HOSTNAME", "1");
    }
    String clean = host.replaceAll("[^A-Za-z0-9_.-]", "-");
    return "trainer-" + (clean.length() > 100 ? clean.substring(0, 100) : clean);
  }

  /**
   * Retries the first fetch while the server is unreachable (no handler yet: the server is still
   * starting, or the cluster has not propagated its registration), up to the deadline.
   */
  static Future<Void> waitForServer(Vertx vertx, PsClient client, String id, long deadlineNanos) {
    long leftMs = java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
    return Attempts.within(vertx, client.getModel(id), Math.min(Attempts.MAX_ATTEMPT_MS, leftMs),
            "fetching the model", client::release, client::abandon)
        .<Void>map(m -> {
          client.release(m);
          return null;
        }).recover(e -> {
      RpcException r = RpcException.of(e);
      if (r.code() != FailureCode.UNAVAILABLE) {
        // Reached it, and it said no (a live trainer under this id, an id not in --participants).
        return Future.failedFuture(new RpcException(r.code(), "the parameter server refused trainer '" + id
            + "': " + r.getMessage()));
      }
      if (System.nanoTime() > deadlineNanos) {
        return Future.failedFuture(new RpcException(r.code(), "cannot reach the parameter server: "
            + r.getMessage()));
      }
      Promise<Void> later = Promise.promise();
      vertx.setTimer(200, t -> waitForServer(vertx, client, id, deadlineNanos).onComplete(later));
      return later.future();
    });
  }
}
