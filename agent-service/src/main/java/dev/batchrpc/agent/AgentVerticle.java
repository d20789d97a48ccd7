package dev.batchrpc.agent;

import dev.batchrpc.compute.Backends;
import dev.batchrpc.compute.nn.PolicyNet;
import dev.batchrpc.observer.EpisodeRunner;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.AgentGrpcService;
import dev.batchrpc.proto.v1.ObserverGrpcClient;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.grpc.GrpcServices;
import dev.batchrpc.runtime.ops.ServiceMeters;
import dev.batchrpc.runtime.round.Arrival;
import dev.batchrpc.runtime.round.BatchResult;
import dev.batchrpc.runtime.round.Round;
import dev.batchrpc.runtime.round.RoundBatch;
import dev.batchrpc.runtime.round.RoundConfig;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.Message;
import io.vertx.core.http.HttpServer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import io.vertx.grpc.server.StatusException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The batch-processing agent: action selection for every observer's steps, episode orchestration
 * and the REINFORCE update.
 *
 * <h2>Action selection</h2>
 * {@code agent.select-action} (and the gRPC {@code Agent.SelectAction}) submit to one
 * {@link Round}: in {@link AgentMode#BATCH} it waits for all N observers of a step, and the last
 * arrival runs one forward pass over the step's states ordered by observer index; in
 * {@link AgentMode#NOBATCH} the round's size is 1, so each request runs its own forward pass at
 * once. Both run on the same ordered worker thread as the policy's updates (GPU-safe). A
 * {@link StepGate} refuses unknown observers, repeated or skipped steps, wrong episodes and bad
 * states before they join a round.
 *
 * <h2>Episodes</h2>
 * {@link #runEpisode(int)} asks every observer to run {@code n_steps} ({@code observer.<id>.run-episode},
 * or gRPC for an observer registered with an endpoint), waits for all, computes the returns and
 * takes one Adam step on the whole episode ({@link PolicyAgent}). Observers register at
 * {@code agent.register}; {@link #observersReady()} completes when all N have.
 *
 * <p>Thread confinement: registrations, the gate, the latency log and the episode state live on
 * this verticle's event loop; the {@link PolicyAgent} lives on the worker.
 */
public final class AgentVerticle extends VerticleBase {

  /** One episode's outcome. */
  public record EpisodeResult(long episode, int steps, float loss, double episodeReward,
      double runningReward, double seconds) {
  }

  private static final AtomicInteger INSTANCES = new AtomicInteger();
  private static final int GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
  /**
   * On the CPU, a step's forward pass of up to this many rows (about a microsecond each) runs on
   * the event loop, inline in the round: cheaper than the two thread hand-offs to the worker and
   * back. The policy's state is not bound to a thread on the CPU, and every access stays ordered
   * (the worker's begin/finish calls run while no step is admitted). GPU: always the worker.
   */
  static final int INLINE_MAX_ROWS = 32;

  private final AgentConfig config;
  private final MeterRegistry registry;
  private final String workerName = "agent.policy." + INSTANCES.getAndIncrement();

  private WorkerExecutor worker;
  private PolicyAgent policy;
  private Round<SelectActionRequest, SelectActionReply> round;
  private int inlineRows;
  private StepGate gate;
  private final LatencyLog latencies = new LatencyLog();
  private final Set<String> registered = new HashSet<>();
  private final Map<String, SocketAddress> grpcObservers = new HashMap<>();
  private final Promise<Void> ready = Promise.promise();
  // Meters (null without a registry); the rewards are written on the event loop, read by scrapes.
  private Counter actionsServed;
  private Counter episodesDone;
  private volatile double lastEpisodeReward;
  private volatile double lastRunningReward;
  private GrpcClient grpcClient;
  private HttpServer grpcHttp;
  private long nextEpisode;
  private boolean running;

  /**
   * An agent.
   *
   * @param config the settings
   * @param registry where the round's metrics go, or {@code null} for nowhere
   */
  public AgentVerticle(AgentConfig config, MeterRegistry registry) {
    this.config = config;
    this.registry = registry;
  }

  @Override
  public Future<?> start() {
    ProtobufCodec.register(vertx);
    gate = new StepGate(config.observerIds());
    // Pool size 1, shared by name with the round: one thread runs every forward pass and update.
    worker = vertx.createSharedWorkerExecutor(workerName, 1, 10, TimeUnit.MINUTES);
    Future<PolicyAgent> created = worker.executeBlocking(() -> {
      dev.batchrpc.compute.Backend backend = Backends.select(config.device());
      ServiceMeters.backend(registry, "agent", backend.isGpu());
      return new PolicyAgent(backend, config.observers(), config.seed(), config.lr());
    }, true);
    registerMeters();
    return created.compose(p -> {
      policy = p;
      inlineRows = p.isGpu() ? 0 : INLINE_MAX_ROWS;
      round = newRound();
      List<Future<?>> needs = new ArrayList<>();
      needs.add(Consumers.serve(vertx.eventBus(), Addresses.AGENT_SELECT_ACTION,
          SelectActionRequest.getDefaultInstance(), GRPC_MAX_MESSAGE_BYTES, this::selectAction).completion());
      needs.add(Consumers.serve(vertx.eventBus(), Addresses.AGENT_REGISTER,
          RegisterObserverRequest.getDefaultInstance(), GRPC_MAX_MESSAGE_BYTES, this::register).completion());
      if (config.grpcPort() >= 0) {
        needs.add(startGrpc());
      }
      return Future.all(needs);
    }).onSuccess(v -> vertx.eventBus().publish(ObserverVerticle.AGENT_STARTED_ADDRESS, "started"));
  }

  @Override
  public Future<?> stop() {
    List<Future<?>> done = new ArrayList<>();
    if (round != null) {
      done.add(round.close());
    }
    if (grpcHttp != null) {
      done.add(grpcHttp.close());
    }
    if (grpcClient != null) {
      done.add(grpcClient.close());
    }
    return Future.join(done).eventually(() -> worker.executeBlocking(() -> {
      if (policy != null) {
        policy.close();
      }
      return null;
    }, true)).eventually(() -> worker.close());
  }

  /** The agent's own meters (the round's are registered by the round); none without a registry. */
  private void registerMeters() {
    if (registry == null) {
      return;
    }
    actionsServed = Counter.builder("agent.actions.served")
        .description("Actions answered to observers")
        .tag("mode", config.mode().cliName())
        .register(registry);
    episodesDone = Counter.builder("agent.episodes")
        .description("Episodes completed (each followed by one policy update)")
        .register(registry);
    Gauge.builder("agent.episode.reward", this, a -> a.lastEpisodeReward)
        .description("The last episode's reward (the tutorial's ep_reward)")
        .register(registry);
    Gauge.builder("agent.running.reward", this, a -> a.lastRunningReward)
        .description("The running reward after the last episode")
        .register(registry);
  }

  private Round<SelectActionRequest, SelectActionReply> newRound() {
    int size = config.mode() == AgentMode.BATCH ? config.observers() : 1;
    return Round.<SelectActionRequest, SelectActionReply>builder(context,
            RoundConfig.of("select-action", "agent", size).withWorkerName(workerName), this::batch)
        .validator(gate::check)
        .knownParticipants(config.observerIds())
        .meterRegistry(registry)
        .inlineBatchesUpTo(inlineRows)
        .build();
  }

  /** The gRPC port actually bound, or -1 without gRPC. */
  public int grpcPort() {
    return grpcHttp == null ? -1 : grpcHttp.actualPort();
  }

  /** Completes once all N observers have registered. */
  public Future<Void> observersReady() {
    return ready.future();
  }

  // ---- action selection -----------------------------------------------------------------------

  /** Submits to the round and logs the latency (receipt to answer). Event loop. */
  private Future<SelectActionReply> selectAction(SelectActionRequest q) {
    long t0 = System.nanoTime();
    return round.submit(q.getObserverId(), q).andThen(ar -> {
      if (ar.succeeded()) {
        latencies.add(System.nanoTime() - t0);
        if (actionsServed != null) {
          actionsServed.increment();
        }
      }
    });
  }

  /** One round's forward pass, on the worker: rows ordered by observer index (determinism). */
  private BatchResult<SelectActionReply> batch(RoundBatch<SelectActionRequest> batch) {
    List<Arrival<SelectActionRequest>> arrivals = batch.arrivals();
    int b = arrivals.size();
    Integer[] order = new Integer[b];
    int[] indexOfArrival = new int[b];
    for (int k = 0; k < b; k++) {
      order[k] = k;
      indexOfArrival[k] = gate.indexOf(arrivals.get(k).participantId());
    }
    java.util.Arrays.sort(order, (x, y) -> Integer.compare(indexOfArrival[x], indexOfArrival[y]));
    int step = arrivals.get(0).request().getStep();
    int[] observers = new int[b];
    float[][] states = new float[b][];
    for (int r = 0; r < b; r++) {
      Arrival<SelectActionRequest> a = arrivals.get(order[r]);
      if (a.request().getStep() != step) {
        // The gate makes this impossible; fail the round loudly rather than mix steps.
        throw new IllegalStateException("round mixes steps " + step + " and " + a.request().getStep());
      }
      observers[r] = indexOfArrival[order[r]];
      states[r] = StepGate.state(a.participantId(), a.request());
    }
    PolicyNet.Act act = policy.act(step, observers, states);
    SelectActionReply[] replies = new SelectActionReply[b];
    float[] probs = act.probs().data();
    for (int r = 0; r < b; r++) {
      replies[order[r]] = SelectActionReply.newBuilder()
          .setAction(act.actions()[r])
          .addProbabilities(probs[r * PolicyNet.OUT])
          .addProbabilities(probs[r * PolicyNet.OUT + 1])
          .setBatchSize(b)
          .build();
    }
    return BatchResult.perArrival(List.of(replies));
  }

  // ---- registration -------------------------------------------------------------------------

  private Future<RegisterObserverReply> register(RegisterObserverRequest q) {
    String id = q.getObserverId();
    if (gate.indexOf(id) < 0) {
      return Future.failedFuture(new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "observer '" + id
          + "' is not one of the agent's observers " + config.observerIds()));
    }
    if (!q.getGrpcEndpoint().isEmpty()) {
      try {
        grpcObservers.put(id, parseEndpoint(q.getGrpcEndpoint()));
      } catch (IllegalArgumentException e) {
        return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, e.getMessage()));
      }
    } else {
      grpcObservers.remove(id);
    }
    registered.add(id);
    if (registered.size() == config.observers()) {
      ready.tryComplete();
    }
    return Future.succeededFuture(RegisterObserverReply.newBuilder().setObserverCount(registered.size()).build());
  }

  private static SocketAddress parseEndpoint(String endpoint) {
    int colon = endpoint.lastIndexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("grpc_endpoint must be host:port, got '" + endpoint + "'");
    }
    int port;
    try {
      port = Integer.parseInt(endpoint.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("grpc_endpoint must be host:port, got '" + endpoint + "'");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("grpc_endpoint port must be 1-65535, got '" + endpoint + "'");
    }
    return SocketAddress.inetSocketAddress(port, endpoint.substring(0, colon));
  }

  // ---- gRPC -----------------------------------------------------------------------------------

  private Future<HttpServer> startGrpc() {
    GrpcServer server = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(GRPC_MAX_MESSAGE_BYTES));
    GrpcServices.addService(server, new AgentGrpcService() {
      @Override
      public Future<SelectActionReply> selectAction(SelectActionRequest request) {
        return AgentVerticle.this.selectAction(request).recover(AgentVerticle::toStatus);
      }

      @Override
      public Future<RegisterObserverReply> registerObserver(RegisterObserverRequest request) {
        return register(request).recover(AgentVerticle::toStatus);
      }
    });
    return vertx.createHttpServer().requestHandler(server).listen(config.grpcPort(), config.grpcHost())
        .onSuccess(s -> grpcHttp = s);
  }

  private static <T> Future<T> toStatus(Throwable e) {
    RpcException r = RpcException.of(e);
    return Future.failedFuture(new StatusException(r.grpcStatus(), r.getMessage()));
  }

  // ---- episodes -------------------------------------------------------------------------------

  /**
   * Runs one episode on all observers and one update. Call it from anywhere; one at a time.
   *
   * @param nSteps steps per observer, &gt; 0
   * @return the episode's outcome; fails with {@code BAD_REQUEST} for {@code nSteps} outside
   *     [1, {@link EpisodeRunner#MAX_STEPS}] or an episode record too large for this many observers,
   *     {@code UNAVAILABLE} while another episode runs, or an observer's failure (the round is then
   *     replaced, so the next episode starts clean)
   */
  public Future<EpisodeResult> runEpisode(int nSteps) {
    Promise<EpisodeResult> p = Promise.promise();
    context.runOnContext(v -> episode(nSteps).onComplete(p));
    return p.future();
  }

  /** The policy's parameters now (read on the worker between rounds). */
  public Future<float[]> parameters() {
    Promise<float[]> p = Promise.promise();
    context.runOnContext(v -> worker.executeBlocking(() -> policy.parameters(), true).onComplete(p));
    return p.future();
  }

  /** Per-request latency percentiles since the last call (receipt of a request to its answer). */
  public Future<LatencyLog.Summary> drainLatencies() {
    Promise<LatencyLog.Summary> p = Promise.promise();
    context.runOnContext(v -> p.complete(latencies.drain()));
    return p.future();
  }

  /** The context this agent runs on (for tests that submit from it). */
  Context agentContext() {
    return context;
  }

  private Future<EpisodeResult> episode(int nSteps) {
    if (nSteps <= 0 || nSteps > EpisodeRunner.MAX_STEPS) {
      return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "--steps (n_steps) must be > 0 and at most "
          + EpisodeRunner.MAX_STEPS + ", got " + nSteps));
    }
    if (running) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "an episode is already running"));
    }
    running = true;
    long episode = nextEpisode++;
    long t0 = System.nanoTime();
    RunEpisodeRequest q = RunEpisodeRequest.newBuilder().setEpisode(episode).setNSteps(nSteps).build();
    return worker.executeBlocking(() -> {
      policy.beginEpisode(nSteps);
      return null;
    }, true).compose(v -> {
      gate.open(episode, nSteps);
      List<Future<RunEpisodeReply>> replies = new ArrayList<>();
      for (String id : config.observerIds()) {
        replies.add(runOn(id, q));
      }
      return Future.all(replies).map(all -> {
        List<RunEpisodeReply> list = new ArrayList<>();
        for (int i = 0; i < replies.size(); i++) {
          list.add(all.resultAt(i));
        }
        return list;
      });
    }).compose(list -> {
      gate.close();
      int n = list.size();
      float[][] rewards = new float[n][];
      boolean[][] done = new boolean[n][];
      float[] first = new float[n];
      for (int i = 0; i < n; i++) {
        RunEpisodeReply r = list.get(i);
        if (r.getRewardsCount() != nSteps || r.getTerminatedCount() != nSteps) {
          return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "observer '"
              + config.observerIds().get(i) + "' reported " + r.getRewardsCount() + " rewards and "
              + r.getTerminatedCount() + " flags for " + nSteps + " steps"));
        }
        rewards[i] = new float[nSteps];
        done[i] = new boolean[nSteps];
        for (int t = 0; t < nSteps; t++) {
          rewards[i][t] = r.getRewards(t);
          done[i][t] = r.getTerminated(t);
        }
        first[i] = r.getFirstEpisodeReward();
      }
      return worker.executeBlocking(() -> policy.finishEpisode(rewards, done, first, config.gamma()), true);
    }).map(u -> new EpisodeResult(episode, nSteps, u.loss(), u.episodeReward(), u.runningReward(),
        (System.nanoTime() - t0) / 1e9))
        .andThen(ar -> {
          if (ar.succeeded() && episodesDone != null) {
            lastEpisodeReward = ar.result().episodeReward();
            lastRunningReward = ar.result().runningReward();
            episodesDone.increment();
          }
        })
        .transform(ar -> {
          running = false;
          gate.close();
          if (ar.succeeded()) {
            return Future.succeededFuture(ar.result());
          }
          // Stragglers of a failed episode may sit in the open round: fail them and start afresh.
          Round<SelectActionRequest, SelectActionReply> old = round;
          round = newRound();
          return old.close().transform(closed -> Future.failedFuture(RpcException.of(ar.cause())));
        });
  }

  private Future<RunEpisodeReply> runOn(String id, RunEpisodeRequest q) {
    SocketAddress grpc = grpcObservers.get(id);
    if (grpc == null) {
      return vertx.eventBus().<RunEpisodeReply>request(Addresses.observerRunEpisode(id), q,
          ProtobufCodec.options(config.episodeTimeoutMs())).map(Message::body);
    }
    if (grpcClient == null) {
      grpcClient = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(GRPC_MAX_MESSAGE_BYTES));
    }
    return ObserverGrpcClient.create(grpcClient, grpc).runEpisode(q);
  }
}
