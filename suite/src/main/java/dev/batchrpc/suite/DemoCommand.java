package dev.batchrpc.suite;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.agent.LatencyLog;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsCommand;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.cli.DeviceOption;
import dev.batchrpc.runtime.cli.EnvDefaults;
import dev.batchrpc.runtime.cli.OpsOptions;
import dev.batchrpc.runtime.cli.ServiceLauncher;
import dev.batchrpc.runtime.cli.ServiceLauncher.Plan;
import dev.batchrpc.runtime.cli.ServiceLauncher.Started;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.ops.Readiness;
import dev.batchrpc.trainer.ClassificationTask;
import dev.batchrpc.trainer.PsClient;
import dev.batchrpc.trainer.Trainer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code batch-rpc demo}: the whole suite in one process with embedded defaults: a parameter
 * server with its trainers and, at the same time, an agent with its observers in batch mode, on one
 * plain (not clustered) Vert.x node; progress lines, then a summary read from the same meters
 * Prometheus scrapes.
 *
 * <p>Threads: the picocli thread only awaits futures; the services run on their event loops and
 * ordered workers, exactly as in their own processes (the event bus is local instead of clustered).
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
    defaultValueProvider = EnvDefaults.class,
    description = {
        "Runs the whole suite on this machine, no setup: a parameter server with --trainers",
        "trainers (synthetic classification task, --rounds rounds) and, at the same time, an agent",
        "with --observers CartPole observers in batch mode (--episodes episodes of --steps steps),",
        "on one Vert.x node. Prints progress and a summary; serves /metrics and /health/* while it",
        "runs (--metrics-port). CPU unless a GPU is found (--device).",
        ""})
public final class DemoCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  OpsOptions ops;

  @Mixin
  DeviceOption device;

  @Option(names = "--trainers", defaultValue = "5",
      description = "Trainers per parameter-server round. Default: ${DEFAULT-VALUE}.")
  int trainers;

  @Option(names = "--rounds", defaultValue = "200",
      description = "Parameter-server rounds (each trainer's batches). "
          + "Default: ${DEFAULT-VALUE}.")
  int rounds;

  @Option(names = "--layers", defaultValue = "784,256,10",
      description = "The trainers' MLP layer sizes, inputs first. Default: ${DEFAULT-VALUE}.")
  String layers;

  @Option(names = "--batch-size", defaultValue = "20",
      description = "Samples per trainer batch. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--observers", defaultValue = "4",
      description = "CartPole observers of the agent. Default: ${DEFAULT-VALUE}.")
  int observers;

  @Option(names = "--episodes", defaultValue = "10",
      description = "Agent episodes. Default: ${DEFAULT-VALUE}.")
  int episodes;

  @Option(names = "--steps", defaultValue = "500",
      description = "Steps per observer per episode. Default: ${DEFAULT-VALUE}.")
  int steps;

  @Option(names = "--seed", defaultValue = "543",
      description = "Seed of the model, the tasks and the environments. "
          + "Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--progress-every", defaultValue = "25",
      description = "A parameter-server progress line every N rounds (0: none; the agent prints one "
          + "per episode). Default: ${DEFAULT-VALUE}.")
  int progressEvery;

  @Option(names = "--linger-s", defaultValue = "0",
      description = "Keep serving the metrics and health endpoints this long after the summary "
          + "(for a look at /metrics or a Prometheus scrape). Default: ${DEFAULT-VALUE}.")
  int lingerS;

  private final PrintStream out = System.out;

  @Override
  public Integer call() throws Exception {
    return ServiceLauncher.of(spec, ops, "consumers", "model").run(() -> {
      int[] sizes = PsCommand.parseLayers(layers);
      if (rounds < 1 || episodes < 1 || steps < 1 || batchSize < 1 || progressEvery < 0 || lingerS < 0) {
        throw new IllegalArgumentException("--rounds, --episodes, --steps and --batch-size must be >= 1; "
            + "--progress-every and --linger-s >= 0");
      }
      PsConfig psConfig = PsConfig.builder(trainers, ModelSpec.mlp(sizes)).device(device.value()).seed(seed)
          .build();
      AgentConfig agentConfig = AgentConfig.of(observers, AgentMode.BATCH, seed)
          .withTraining(1.0, AgentConfig.DEFAULT_LR, device.value());
      return new Plan<>(NodeConfig.local(), started -> run(started, sizes, psConfig, agentConfig));
    });
  }

  private int run(Started started, int[] sizes, PsConfig psConfig, AgentConfig agentConfig) throws Exception {
    Node node = started.node();
    Readiness readiness = started.readiness();
    String opsLine = started.opsLine();
    out.println("demo: one Vert.x node, event bus local; " + opsLine);

    // Both services deploy first (consumers registered, models loaded), then both workloads run
    // at once: the trainers as futures, the agent's episodes awaited one by one on this thread.
    ParameterServerVerticle psVerticle = new ParameterServerVerticle(psConfig, node.registry());
    node.vertx().deployVerticle(psVerticle).await();
    ParameterServer ps = psVerticle.server().await();
    AgentVerticle agent = new AgentVerticle(agentConfig, node.registry());
    node.vertx().deployVerticle(agent).await();
    new InProcessObservers().deploy(node.vertx(), agentConfig).await();
    agent.observersReady().await(60, TimeUnit.SECONDS);
    readiness.set("consumers", true);
    readiness.set("model", true);
    out.printf(Locale.ROOT, "demo: parameter server (%s, %d parameters, %s) with %d trainers x %d rounds%n",
        layers, ps.config().model().parameterCount(), ps.backendName(), trainers, rounds);
    out.printf(Locale.ROOT, "demo: agent (batch mode) with %d observers x %d episodes x %d steps%n",
        observers, episodes, steps);

    long t0 = System.nanoTime();
    List<Future<Trainer.Summary>> trained = new ArrayList<>();
    PsClient client = PsClient.eventBus(node.vertx(), 120_000);
    for (int i = 0; i < trainers; i++) {
      String id = "trainer-" + i;
      boolean reporter = i == 0;
      Trainer trainer = new Trainer(node.vertx(), client, id,
          new ClassificationTask("synthetic", sizes, batchSize, seed, id), rounds, p -> {
            if (reporter && progressEvery > 0 && (p.round() % progressEvery == 0 || p.round() == 1)) {
              out.printf(Locale.ROOT, "ps     round %4d/%d  loss %.4f  model v%d  %.1f rounds/s%n",
                  p.round(), p.batches(), p.loss(), p.modelVersion(), p.roundsPerSecond());
            }
          });
      trained.add(trainer.run());
    }

    double firstRunning = Double.NaN;
    EpisodeResult last = null;
    for (int e = 0; e < episodes; e++) {
      last = agent.runEpisode(steps).await();
      if (e == 0) {
        firstRunning = last.runningReward();
      }
      out.printf(Locale.ROOT, "agent  episode %3d/%d  episode reward %6.1f  running reward %7.2f  %.2f s%n",
          e + 1, episodes, last.episodeReward(), last.runningReward(), last.seconds());
    }
    double agentSeconds = (System.nanoTime() - t0) / 1e9;
    LatencyLog.Summary latency = agent.drainLatencies().await();
    Future.all(trained).await();
    double totalSeconds = (System.nanoTime() - t0) / 1e9;
    Trainer.Summary s0 = trained.get(0).result();
    float lastLoss = 0;
    for (Future<Trainer.Summary> f : trained) {
      lastLoss += f.result().lastLoss() / trainers;
    }
    float firstLoss = 0;
    for (Future<Trainer.Summary> f : trained) {
      firstLoss += f.result().firstLoss() / trainers;
    }

    MeterRegistry r = node.registry();
    out.println();
    out.println("summary");
    out.printf(Locale.ROOT, "  parameter server  %d rounds of %d trainers (model v%d), mean loss %.4f -> %.4f,"
            + " %.1f rounds/s (%.0f gradients/s), on %s%n",
        (long) count(r, "ps.rounds", "complete"), trainers, ps.version(), firstLoss, lastLoss,
        s0.roundsPerSecond(), s0.roundsPerSecond() * trainers, ps.backendName());
    out.printf(Locale.ROOT, "  agent             %d episodes x %d observers x %d steps, batch mode: %d rounds,"
            + " %d actions (%.0f actions/s); running reward %.2f -> %.2f, last episode %.1f%n",
        episodes, observers, steps, (long) count(r, "agent.rounds", "complete"),
        (long) counter(r, "agent.actions.served"), counter(r, "agent.actions.served") / agentSeconds,
        firstRunning, last.runningReward(), last.episodeReward());
    out.printf(Locale.ROOT, "  action latency    p50 %.0f us, p90 %.0f us, p99 %.0f us (%d requests)%n",
        latency.p50Us(), latency.p90Us(), latency.p99Us(), latency.count());
    out.printf(Locale.ROOT, "  wall time         %.1f s%n", totalSeconds);
    out.println("  metrics           " + (ops.metricsPort() < 0 ? opsLine
        : opsLine.replaceFirst("^metrics on ", "were served on ") + (lingerS > 0
            ? "; serving " + lingerS + " s more (--linger-s)" : "; closed now (--linger-s N keeps them)")));
    out.flush();
    if (lingerS > 0) {
      Thread.sleep(Duration.ofSeconds(lingerS).toMillis());
    }
    return 0;
  }

  private static double count(MeterRegistry r, String name, String outcome) {
    Counter c = r.find(name).tag("outcome", outcome).counter();
    return c == null ? 0 : c.count();
  }

  private static double counter(MeterRegistry r, String name) {
    Counter c = r.find(name).counter();
    return c == null ? 0 : c.count();
  }
}
