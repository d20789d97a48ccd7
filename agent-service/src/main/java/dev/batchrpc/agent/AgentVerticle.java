package dev.batchrpc.agent;

import dev.batchrpc.compute.Backends;
import dev.batchrpc.compute.nn.PolicyNet;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.AgentGrpcService;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ObserverGrpcClient;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.ParticipantNodes;
import dev.batchrpc.runtime.net.Tls;
import dev.batchrpc.runtime.bus.Consumers;
import dev.batchrpc.runtime.grpc.GrpcServices;
import dev.batchrpc.runtime.ops.ServiceMeters;
import dev.batchrpc.runtime.round.Arrival;
import dev.batchrpc.runtime.round.BatchResult;
import dev.batchrpc.runtime.round.PartialPolicy;
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
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.grpc.server.StatusException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

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
 * <h2>Lost observers</h2>
 * An observer leaves (its node left the cluster, it called {@code agent.leave} / gRPC
 * {@code Leave}, or its run-episode request failed for want of an answer): the step rounds stop
 * waiting for it at once, the running episode finishes with the others and updates on their rows
 * only, and later episodes run without it until it registers again. An observer that misses a
 * step round closed by {@code --max-wait-ms} sits out the rest of that episode and is back for the
 * next one.
 *
 * <p>Thread confinement: registrations, departures, the gate, the latency log and the episode
 * state live on this verticle's event loop; the {@link PolicyAgent} lives on the worker.
 */
public final class AgentVerticle extends VerticleBase {

  /**
   * One episode's outcome; {@code observers}: how many observers finished it (the others left or
   * sat out, see the class comment).
   */
  public record EpisodeResult(long episode, int steps, float loss, double episodeReward,
      double runningReward, double seconds, int observers) {
  }

  private static final Logger LOG = Logger.getLogger(AgentVerticle.class.getName());
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
  /** Observers that left (node gone, Leave, no answer) and have not registered again. */
  private final Set<String> departed = new HashSet<>();
  /**
   * Observers out of the step rounds until the next episode starts: those that missed a step round
   * of the running episode (maximum wait) and those that registered again after leaving (an episode
   * that started without them must not wait for them).
   */
  private final Set<String> sittingOut = new HashSet<>();
  /** The running episode's unanswered run-episode calls, by observer. */
  private final Map<String, Promise<RunEpisodeReply>> inFlight = new HashMap<>();
  private ParticipantNodes observerNodes;
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
      observerNodes = ParticipantNodes.watch(vertx, id -> observerLeft(id, "its node left the cluster"));
      List<Future<?>> needs = new ArrayList<>();
      needs.add(Consumers.serve(vertx.eventBus(), Addresses.AGENT_SELECT_ACTION,
          SelectActionRequest.getDefaultInstance(), GRPC_MAX_MESSAGE_BYTES, this::selectAction).completion());
      needs.add(Consumers.serveMessages(vertx.eventBus(), Addresses.AGENT_REGISTER,
          RegisterObserverRequest.getDefaultInstance(), GRPC_MAX_MESSAGE_BYTES,
          (q, m) -> register(q).onSuccess(r -> observerNodes.bind(q.getObserverId(), m))).completion());
      needs.add(Consumers.serve(vertx.eventBus(), Addresses.AGENT_LEAVE,
          LeaveRequest.getDefaultInstance(), this::leave).completion());
      if (config.grpcPort() >= 0) {
        needs.add(startGrpc());
      }
      return Future.all(needs);
    }).onSuccess(v -> vertx.eventBus().publish(Addresses.AGENT_STARTED, "started"));
  }

  @Override
  public Future<?> stop() {
    if (observerNodes != null) {
      observerNodes.close();
    }
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

  /** A fresh step round that already knows who left. Event loop. */
  private Round<SelectActionRequest, SelectActionReply> newRound() {
    int size = config.mode() == AgentMode.BATCH ? config.observers() : 1;
    RoundConfig rc = RoundConfig.of("select-action", "agent", size).withWorkerName(workerName);
    if (config.maxWaitMs() > 0) {
      rc = rc.withMaxWait(Duration.ofMillis(config.maxWaitMs()),
          config.runPartial() ? PartialPolicy.RUN_PARTIAL : PartialPolicy.FAIL);
    }
    Round<SelectActionRequest, SelectActionReply> r = Round.<SelectActionRequest, SelectActionReply>builder(
            context, rc, this::batch)
        .validator(gate::check)
        .knownParticipants(config.observerIds())
        .meterRegistry(registry)
        .inlineBatchesUpTo(inlineRows)
        .build();
    for (String id : departed) {
      r.leave(id);
    }
    return r;
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

  /**
   * One round's forward pass, on the worker (or inline): rows ordered by step, then observer index
   * (determinism). A round holds one step, except after a round closed by the maximum wait, when a
   * straggler's late step may share a round with the others' next one: each step is then its own
   * forward pass.
   */
  private BatchResult<SelectActionReply> batch(RoundBatch<SelectActionRequest> batch) {
    List<Arrival<SelectActionRequest>> arrivals = batch.arrivals();
    int b = arrivals.size();
    Integer[] order = new Integer[b];
    int[] indexOfArrival = new int[b];
    for (int k = 0; k < b; k++) {
      order[k] = k;
      indexOfArrival[k] = gate.indexOf(arrivals.get(k).participantId());
    }
    java.util.Arrays.sort(order, (x, y) -> {
      int byStep = Integer.compare(arrivals.get(x).request().getStep(), arrivals.get(y).request().getStep());
      return byStep != 0 ? byStep : Integer.compare(indexOfArrival[x], indexOfArrival[y]);
    });
    SelectActionReply[] replies = new SelectActionReply[b];
    for (int from = 0; from < b; ) {
      int step = arrivals.get(order[from]).request().getStep();
      int to = from;
      while (to < b && arrivals.get(order[to]).request().getStep() == step) {
        to++;
      }
      int rows = to - from;
      int[] observers = new int[rows];
      float[][] states = new float[rows][];
      for (int r = 0; r < rows; r++) {
        Arrival<SelectActionRequest> a = arrivals.get(order[from + r]);
        observers[r] = indexOfArrival[order[from + r]];
        states[r] = StepGate.state(a.participantId(), a.request());
      }
      PolicyNet.Act act = policy.act(step, observers, states);
      float[] probs = act.probs().data();
      for (int r = 0; r < rows; r++) {
        replies[order[from + r]] = SelectActionReply.newBuilder()
            .setAction(act.actions()[r])
            .addProbabilities(probs[r * PolicyNet.OUT])
            .addProbabilities(probs[r * PolicyNet.OUT + 1])
            .setBatchSize(rows)
            .build();
      }
      from = to;
    }
    if (batch.partial()) {
      Set<String> arrived = new HashSet<>();
      for (Arrival<SelectActionRequest> a : arrivals) {
        arrived.add(a.participantId());
      }
      context.runOnContext(v -> sitOutMissing(arrived, arrivals.get(0).request().getStep()));
    }
    return BatchResult.perArrival(List.of(replies));
  }

  // ---- membership -----------------------------------------------------------------------------

  /** gRPC / event-bus Leave: the observer is gone until it registers again. Event loop. */
  private Future<LeaveReply> leave(LeaveRequest q) {
    String id = q.getParticipantId();
    if (gate.indexOf(id) < 0) {
      return Future.failedFuture(new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "observer '" + id
          + "' is not one of the agent's observers " + config.observerIds()));
    }
    observerNodes.unbind(id);
    return observerLeft(id, "it left").map(n -> LeaveReply.newBuilder().setExpected(n).build());
  }

  /**
   * An observer is gone: the step rounds stop waiting for it, the running episode goes on without
   * it, later episodes leave it out until it registers again. Event loop.
   */
  private Future<Integer> observerLeft(String id, String why) {
    if (departed.add(id)) {
      LOG.warning(() -> "agent: observer '" + id + "' left (" + why + "); the rounds go on without it");
      registered.remove(id);
      excludeFromEpisode(id, why);
    }
    return round.leave(id);
  }

  /**
   * After a step round closed by the maximum wait: the episode's observers that did not send that
   * step sit out the rest of the episode (they are out of step with the others). Event loop.
   */
  private void sitOutMissing(Set<String> arrived, int step) {
    for (String id : config.observerIds()) {
      if (inFlight.containsKey(id) && !arrived.contains(id) && sittingOut.add(id)) {
        LOG.warning(() -> "agent: observer '" + id + "' missed step " + step + " (--max-wait-ms "
            + config.maxWaitMs() + "); it sits out the rest of the episode");
        round.leave(id);
        excludeFromEpisode(id, "missed step " + step);
      }
    }
  }

  /** Stops waiting for an observer's episode: it is left out of this episode's update. */
  private void excludeFromEpisode(String id, String why) {
    Promise<RunEpisodeReply> p = inFlight.remove(id);
    if (p != null) {
      p.tryFail(new Excluded(id, why));
    }
  }

  /** The failure of a run-episode call of an observer that left or sits out the episode. */
  private static final class Excluded extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Excluded(String id, String why) {
      super("observer '" + id + "' is left out of this episode: " + why, null, false, false);
    }
  }

  /**
   * Whether a failed run-episode call means the observer is gone (no handler, no answer in time,
   * a broken connection) rather than that it reported a refusal.
   */
  private static boolean isLoss(Throwable failure) {
    if (failure instanceof StatusException status) {
      return status.status() == io.vertx.grpc.common.GrpcStatus.UNAVAILABLE
          || status.status() == io.vertx.grpc.common.GrpcStatus.DEADLINE_EXCEEDED;
    }
    if (failure instanceof RpcException || failure instanceof io.vertx.core.eventbus.ReplyException) {
      return RpcException.of(failure).code() == FailureCode.UNAVAILABLE;
    }
    // A gRPC transport failure: connection refused or reset, stream closed.
    return true;
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
    if (departed.remove(id)) {
      LOG.info(() -> "agent: observer '" + id + "' is back; it takes part from the next episode");
      sittingOut.add(id);
    }
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
    AgentGrpcService service = new AgentGrpcService() {
      @Override
      public Future<SelectActionReply> selectAction(SelectActionRequest request) {
        return AgentVerticle.this.selectAction(request).recover(AgentVerticle::toStatus);
      }

      @Override
      public Future<RegisterObserverReply> registerObserver(RegisterObserverRequest request) {
        return register(request).recover(AgentVerticle::toStatus);
      }

      @Override
      public Future<LeaveReply> leave(LeaveRequest request) {
        return AgentVerticle.this.leave(request).recover(AgentVerticle::toStatus);
      }
    };
    return GrpcServices.listen(vertx, service, GRPC_MAX_MESSAGE_BYTES, config.grpcHost(), config.grpcPort())
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
   *     [1, {@link Addresses#MAX_EPISODE_STEPS}] or an episode record too large for this many observers,
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
    if (nSteps <= 0 || nSteps > Addresses.MAX_EPISODE_STEPS) {
      return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "--steps (n_steps) must be > 0 and at most "
          + Addresses.MAX_EPISODE_STEPS + ", got " + nSteps));
    }
    if (running) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "an episode is already running"));
    }
    List<String> members = new ArrayList<>();
    for (String id : config.observerIds()) {
      if (!departed.contains(id)) {
        members.add(id);
      }
    }
    if (members.isEmpty()) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "no live observer: all "
          + config.observers() + " left (register an observer again)"));
    }
    running = true;
    long episode = nextEpisode++;
    long t0 = System.nanoTime();
    // Those that sat out the last episode, or came back since, take part again.
    for (String id : sittingOut) {
      round.rejoin(id);
    }
    sittingOut.clear();
    RunEpisodeRequest q = RunEpisodeRequest.newBuilder().setEpisode(episode).setNSteps(nSteps).build();
    int n = config.observers();
    return worker.executeBlocking(() -> {
      policy.beginEpisode(nSteps);
      return null;
    }, true).compose(v -> {
      boolean[] inEpisode = new boolean[n];
      List<Future<RunEpisodeReply>> replies = new ArrayList<>();
      for (String id : members) {
        inEpisode[gate.indexOf(id)] = true;
        Promise<RunEpisodeReply> reply = Promise.promise();
        inFlight.put(id, reply);
        runOn(id, q).onComplete(ar -> {
          if (inFlight.remove(id, reply)) {
            if (ar.failed() && isLoss(ar.cause())) {
              observerLeft(id, "its episode call failed: " + RpcException.of(ar.cause()).getMessage());
              reply.tryFail(new Excluded(id, "no answer"));
            } else {
              reply.handle(ar);
            }
          }
        });
        replies.add(reply.future());
      }
      gate.open(episode, nSteps, inEpisode);
      return Future.join(replies).transform(ignored -> {
        // Every call is answered or excluded; a refusal by a live observer fails the episode.
        for (Future<RunEpisodeReply> r : replies) {
          if (r.failed() && !(r.cause() instanceof Excluded)) {
            return Future.failedFuture(r.cause());
          }
        }
        return Future.succeededFuture(replies);
      });
    }).compose(replies -> {
      gate.close();
      inFlight.clear();
      float[][] rewards = new float[n][];
      boolean[][] done = new boolean[n][];
      float[] first = new float[n];
      boolean[] included = new boolean[n];
      for (int k = 0; k < members.size(); k++) {
        Future<RunEpisodeReply> f = replies.get(k);
        if (f.failed()) {
          continue;
        }
        int i = gate.indexOf(members.get(k));
        RunEpisodeReply r = f.result();
        if (r.getRewardsCount() != nSteps || r.getTerminatedCount() != nSteps) {
          return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "observer '"
              + members.get(k) + "' reported " + r.getRewardsCount() + " rewards and "
              + r.getTerminatedCount() + " flags for " + nSteps + " steps"));
        }
        rewards[i] = new float[nSteps];
        done[i] = new boolean[nSteps];
        for (int t = 0; t < nSteps; t++) {
          rewards[i][t] = r.getRewards(t);
          done[i][t] = r.getTerminated(t);
        }
        first[i] = r.getFirstEpisodeReward();
        included[i] = true;
      }
      if (!java.util.stream.IntStream.range(0, n).anyMatch(i -> included[i])) {
        return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "episode " + episode
            + ": every observer left or sat out before the end"));
      }
      return worker.executeBlocking(() -> policy.finishEpisode(rewards, done, first, config.gamma(), included),
          true);
    }).map(u -> new EpisodeResult(episode, nSteps, u.loss(), u.episodeReward(), u.runningReward(),
        (System.nanoTime() - t0) / 1e9, u.observers()))
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
          inFlight.clear();
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
      // Every call has a deadline: an observer's episode may take --episode-timeout-ms at most.
      grpcClient = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(GRPC_MAX_MESSAGE_BYTES)
          .setTimeout((int) Math.min(Integer.MAX_VALUE, config.episodeTimeoutMs()))
          .setTimeoutUnit(TimeUnit.MILLISECONDS).setScheduleDeadlineAutomatically(true),
          Tls.grpcClient(vertx, new HttpClientOptions()));
    }
    return ObserverGrpcClient.create(grpcClient, grpc).runEpisode(q);
  }
}
