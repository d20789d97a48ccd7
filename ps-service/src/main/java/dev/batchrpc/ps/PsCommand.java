package dev.batchrpc.ps;

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
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code batch-rpc ps}: runs the batch-updating parameter server until SIGTERM/Ctrl-C. */
@Command(name = "ps", mixinStandardHelpOptions = true, sortOptions = false,
    defaultValueProvider = EnvDefaults.class,
    description = {
        "Runs the batch-updating parameter server: every round collects one gradient from each of",
        "--trainers trainers, averages them, takes one SGD step and sends every trainer of the",
        "round the same new model. Serves the event bus (ps.update-and-fetch, ps.get-model) and,",
        "with --grpc-port, gRPC (batchrpc.v1.ParameterServer) on the same rounds.",
        ""})
public final class PsCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  NodeOptions node;

  @Mixin
  OpsOptions ops;

  @Option(names = "--trainers", defaultValue = "5",
      description = "Trainers per round (gradients averaged per step). Default: ${DEFAULT-VALUE}.")
  int trainers;

  @Option(names = "--participants", split = ",", defaultValue = "",
      description = "The only trainer ids allowed, comma-separated. "
          + "Default: none (any trainer that fetched the model with its id may join).")
  List<String> participants;

  @Option(names = "--max-wait-ms", defaultValue = "60000",
      description = "Close a round this long after its first gradient even if not all trainers "
          + "arrived (a trainer lost without a trace, e.g. a gRPC client); 0 waits for all. Trainers "
          + "whose node leaves the cluster stop counting at once. "
          + "Default: ${DEFAULT-VALUE}.")
  long maxWaitMs;

  @Option(names = "--partial-policy", defaultValue = "run",
      description = "What a round closed by --max-wait-ms does: run (step on what arrived) or fail "
          + "(its trainers get ROUND_TIMEOUT). Default: ${DEFAULT-VALUE}.")
  String partialPolicy;

  @Mixin
  DeviceOption device;

  @Option(names = "--model", defaultValue = "mlp",
      description = "mlp (trainable, see --layers), replay (a flat vector of --replay-params "
          + "parameters, to measure the server alone) or init (no model yet: the first client's InitModel "
          + "sets it, e.g. a PyTorch module's, see docs/python.md; until then other calls are UNAVAILABLE). "
          + "Default: ${DEFAULT-VALUE}.")
  String model;

  @Option(names = "--max-params", defaultValue = "25000000",
      description = "With --model init: the most parameters an InitModel may set (the server's message "
          + "size limit is 4 bytes each plus 1 MiB). Default: ${DEFAULT-VALUE}.")
  long maxParams;

  @Option(names = "--layers", defaultValue = "784,256,10",
      description = "MLP layer sizes, inputs first. Default: ${DEFAULT-VALUE}.")
  String layers;

  @Option(names = "--replay-params", defaultValue = "23569502",
      description = "Parameters of the replay model (default: ResNet-50's). Default: ${DEFAULT-VALUE}.")
  int replayParams;

  @Option(names = "--init-from", defaultValue = "",
      description = "A safetensors file holding your model's named float32 tensors and their initial "
          + "values (e.g. a PyTorch module's named_parameters(), see docs/python.md): the server holds that "
          + "model instead of --model, in the file's tensor order.")
  String initFrom;

  @Option(names = "--export", defaultValue = "",
      description = "Write the model to this safetensors file when the server stops (after its final "
          + "checkpoint), with its version in the metadata.")
  String export;

  @Option(names = "--lr", defaultValue = "0.001",
      description = "SGD learning rate. Default: ${DEFAULT-VALUE}.")
  float lr;

  @Option(names = "--momentum", defaultValue = "0.9",
      description = "SGD momentum. Default: ${DEFAULT-VALUE}.")
  float momentum;

  @Option(names = "--seed", defaultValue = "0",
      description = "Seed of the initial parameters. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Mixin
  GrpcOptions grpc;

  @Mixin
  DataPortOption data;

  @Option(names = "--checkpoint-dir", defaultValue = "",
      description = "Directory for checkpoints of the parameters, optimizer state and model version "
          + "(created if missing; one directory per model). At start the newest intact one is "
          + "restored. Empty: no checkpoints. Default: none.")
  String checkpointDir;

  @Option(names = "--checkpoint-every", defaultValue = "50",
      description = "Rounds between checkpoints: a crash loses at most this many updates (a final "
          + "checkpoint is written on shutdown). Default: ${DEFAULT-VALUE}.")
  int checkpointEvery;

  @Option(names = "--checkpoint-keep", defaultValue = "3",
      description = "How many of the newest checkpoints to keep (older ones are deleted). "
          + "Default: ${DEFAULT-VALUE}.")
  int checkpointKeep;

  @Option(names = "--allow-empty-restore", defaultValue = "false",
      description = "Start from the initial model even when --checkpoint-dir holds only torn or corrupt "
          + "checkpoints (without it such a start is refused, so a run is never thrown away silently).")
  boolean allowEmptyRestore;

  @Option(names = "--round-log", defaultValue = "",
      description = "Append one line per optimizer step to this file: the new version, the time (Unix ms), "
          + "how many trainers and which ids' gradients it averaged; written before any of them is answered "
          + "(an audit trail of who trained the model; 'bench chaos' checks trainers' claims against it). "
          + "Default: none.")
  String roundLog;

  /** Runs the command alone (the suite's {@code batch-rpc ps} is the usual entry point). */
  public static void main(String[] args) {
    System.exit(ServiceLauncher.commandLine(new PsCommand()).execute(args));
  }

  /** The validated settings; each error names its flag. */
  public PsConfig toConfig() {
    PartialPolicy policy = PartialPolicy.parse(partialPolicy);
    if (maxWaitMs < 0) {
      throw new IllegalArgumentException("--max-wait-ms must be >= 0, got " + maxWaitMs);
    }
    boolean awaitInit = model != null && model.trim().equalsIgnoreCase("init");
    if (awaitInit && initFrom != null && !initFrom.isBlank()) {
      throw new IllegalArgumentException("--model init and --init-from exclude each other: --init-from gives the "
          + "server its model at start, --model init waits for a client's InitModel");
    }
    ModelSpec spec = initFrom != null && !initFrom.isBlank() ? modelFromFile(path("--init-from", initFrom))
        : awaitInit ? ModelSpec.awaitingInit(maxParams) : new ModelSpec(model, parseLayers(layers), replayParams);
    Path exportTo = export == null || export.isBlank() ? null : path("--export", export);
    if (exportTo != null && exportTo.toAbsolutePath().getParent() != null
        && !java.nio.file.Files.isDirectory(exportTo.toAbsolutePath().getParent())) {
      throw new IllegalArgumentException("--export " + export + ": its directory does not exist");
    }
    List<String> ids = participants == null ? List.of()
        : participants.stream().map(String::trim).filter(s -> !s.isEmpty()).toList();
    Path dir = checkpointDir == null || checkpointDir.isBlank() ? null : path("--checkpoint-dir", checkpointDir);
    return PsConfig.builder(trainers, spec).participants(ids)
        .maxWait(maxWaitMs == 0 ? null : Duration.ofMillis(maxWaitMs))
        .runPartial(policy == PartialPolicy.RUN_PARTIAL).device(device.value()).lr(lr).momentum(momentum)
        .seed(seed).grpcPort(grpc.port()).grpcHost(grpc.host())
        .checkpoints(new CheckpointConfig(dir, checkpointEvery, checkpointKeep, allowEmptyRestore)).exportTo(exportTo)
        .roundLog(roundLog == null || roundLog.isBlank() ? null : path("--round-log", roundLog))
        .build();
  }

  private static Path path(String flag, String value) {
    try {
      return Path.of(value.trim());
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException(flag + " '" + value + "' is not a path: " + e.getMessage());
    }
  }

  private static ModelSpec modelFromFile(Path file) {
    try {
      return ModelSpec.fromFile(file);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("--init-from " + file + ": cannot read it: " + e.getMessage(), e);
    }
  }

  /** Parses {@code --layers} ("784,256,10"). */
  public static int[] parseLayers(String text) {
    try {
      return Arrays.stream(text.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--layers must be comma-separated integers like 784,256,10, got '"
          + text + "'");
    }
  }

  @Override
  public Integer call() throws Exception {
    return ServiceLauncher.of(spec, ops, "consumers", "model").serve(() -> {
      PsConfig config = toConfig();
      NodeConfig nodeConfig = node.toConfig();
      DataChannelConfig dataChannel = DataChannelConfig.of(nodeConfig, data.port());
      return new Plan<>(nodeConfig, started -> deploy(started, config, dataChannel));
    });
  }

  /** Deploys the server (ops already answer liveness while a large model initialises). */
  private static void deploy(Started started, PsConfig config, DataChannelConfig dataChannel) {
    Node n = started.node();
    // one ps per cluster: a second one on the same --cluster-name refuses to start, naming the first
    ClusterRoles.claim(n, "ps").await();
    ParameterServerVerticle verticle = new ParameterServerVerticle(config, n.registry(), dataChannel);
    n.vertx().deployVerticle(verticle).await();
    started.readiness().set("model", true);
    started.readiness().set("consumers", true);
    if (!verticle.hasModel()) {
      // --model init without a checkpoint to restore: the model comes with a client's InitModel
      System.out.println("ps: no model yet: waiting for a client's InitModel of at most "
          + config.model().maxParameterCount() + " parameters (--max-params)"
          + (verticle.grpcPort() < 0 ? " on the event bus (ps.init-model)" : " on gRPC " + config.grpcHost() + ":"
          + verticle.grpcPort() + " or the event bus (ps.init-model)") + "; other calls are UNAVAILABLE until then. "
          + "Ctrl-C to stop.");
    }
    verticle.server().onSuccess(ps -> {
      // Failing checkpoints: still ready (taking the ps out of its Service would stop training),
      // reported as DEGRADED with the reason.
      started.readiness().degradation("checkpoints", ps::checkpointDegradation);
      System.out.println(startLine(started, ps, verticle, dataChannel));
    });
  }

  /** The line that says what the server serves, once it holds a model. */
  private static String startLine(Started started, ParameterServer ps, ParameterServerVerticle verticle,
      DataChannelConfig dataChannel) {
    Node n = started.node();
    PsConfig config = ps.config();
    return "ps: serving " + config.model() + " for rounds of " + config.trainers()
        + " trainers (lr " + config.lr() + ", momentum " + config.momentum() + ") on " + ps.backendName()
        + "; event bus " + (n.isClustered() ? "clustered as " + n.nodeId() + " (cluster '"
        + n.config().clusterName() + "')" : "local")
        + (verticle.dataPort() < 0 ? "" : "; data channel on " + dataChannel.bindHost() + ":"
        + verticle.dataPort())
        + (verticle.grpcPort() < 0 ? "; no gRPC" : "; gRPC on " + config.grpcHost() + ":" + verticle.grpcPort())
        + "; " + ps.checkpointStatus() + "; " + started.opsLine() + ". Ctrl-C to stop.";
  }
}
