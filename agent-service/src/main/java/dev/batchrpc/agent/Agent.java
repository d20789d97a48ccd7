package dev.batchrpc.agent;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.Backends;
import dev.batchrpc.compute.nn.PolicyNet;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.ParticipantNodes;
import dev.batchrpc.runtime.ops.ServiceMeters;
import dev.batchrpc.runtime.round.Arrival;
import dev.batchrpc.runtime.round.BatchResult;
import dev.batchrpc.runtime.round.PartialPolicy;
import dev.batchrpc.runtime.round.Round;
import dev.batchrpc.runtime.round.RoundBatch;
import dev.batchrpc.runtime.round.RoundConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.Message;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * The batch-processing agent, independent of transport: action selection for every observer's
 * steps, episode orchestration and the REINFORCE update. The event-bus consumers and the gRPC
 * service ({@link AgentVerticle}, {@link AgentGrpc}) both call it, so they share one round.
 *
 * <h2>Action selection</h2>
 * {@link #selectAction} submits to one {@link Round}: in {@link AgentMode#BATCH} it waits for all
 * N observers of a step, and the last arrival runs one forward pass over the step's states
 * ({@link StepBatcher}: rows by step, then observer index); in {@link AgentMode#NOBATCH} the
 * round's size is 1, so each request runs its own forward pass at once. Both run on the same
 * ordered worker thread as the policy's updates (GPU-safe). A {@link StepGate} refuses unknown
 * observers, repeated or skipped steps, wrong episodes and bad states before they join a round.
 *
 * <h2>Episodes</h2>
 * {@link #runEpisode(int)} asks every live observer to run {@code n_steps}
 * ({@code observer.<id>.run-episode}, or gRPC for an observer registered with an endpoint), waits
 * for all ({@link EpisodeRun}), and takes one Adam step on the whole episode ({@link PolicyAgent}).
 * Observers register with {@link #register}; {@link #observersReady()} completes when all N have.
 *
 * <h2>Lost observers</h2>
 * An observer that leaves (node gone, Leave, no answer) stops counting in the step rounds at once;
 * the running episode finishes and updates without it, later ones run without it until it
 * registers again. One that misses a step round closed by {@code --max-wait-ms} sits out the rest
 * of the episode ({@link ObserverMembership}).
 *
 * <p>Threads: created on, and owned by, one event-loop context (the verticle's); the membership,
 * the gate, the latency log and the episode state live there. The {@link PolicyAgent} lives on the
 * worker (on the CPU a small step's forward pass may run inline on the event loop, see
 * {@link #INLINE_MAX_ROWS}).
 *
 * <p>Length: over 350 lines on purpose. The step round, its admission and withdrawal (the gate),
 * the episodes and the membership share one event-loop-confined state; its parts are already out
 * ({@code StepGate}, {@code StepBatcher}, {@code EpisodeRun}, {@code ObserverMembership}).
 */
public final class Agent {

  /** The largest message the agent takes or sends on either transport. */
  static final int MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
  /**
   * On the CPU, a step's forward pass of up to this many rows (about a microsecond each) runs on
   * the event loop, inline in the round: cheaper than the two thread hand-offs to the worker and
   * back. The policy's state is not bound to a thread on the CPU, and every access stays ordered
   * (the worker's begin/finish calls run while no step is admitted). GPU: always the worker.
   */
  static final int INLINE_MAX_ROWS = 32;

  private static final Logger LOG = Logger.getLogger(Agent.class.getName());
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final AgentConfig config;
  private final Context context;
  private final MeterRegistry registry;
  private final WorkerExecutor worker;
  private final PolicyAgent policy;
  private final int inlineRows;
  private final StepGate gate;
  private final ObserverMembership membership;
  private final ParticipantNodes observerNodes;
  private final AgentMeters meters;
  private final ObserverCalls calls;
  private final LatencyLog latencies = new LatencyLog();
  private final Promise<Void> ready = Promise.promise();
  /** The periodic check of the running episode for silence ({@link #watchForSilence}), or -1. */
  private long silenceTimer = -1;
  /** The timer that starts the agent with the observers registered so far, or -1. */
  private long startTimer = -1;
  private Round<SelectActionRequest, SelectActionReply> round;
  /** The running episode, or null. */
  private EpisodeRun current;
  private long nextEpisode;

  private Agent(Context context, AgentConfig config, MeterRegistry registry, WorkerExecutor worker,
                PolicyAgent policy) {
    this.config = config;
    this.context = context;
    this.registry = registry;
    this.worker = worker;
    this.policy = policy;
    this.inlineRows = policy.isGpu() ? 0 : INLINE_MAX_ROWS;
    this.gate = new StepGate(config.observerIds());
    this.membership = new ObserverMembership(config.observerIds());
    this.meters = new AgentMeters(registry, config.mode());
    this.calls = new ObserverCalls(context.owner(), config.episodeTimeoutMs());
    this.round = newRound();
    this.observerNodes = ParticipantNodes.watch(context.owner(), id -> observerLeft(id, "its node left the cluster"));
  }

  /**
   * Creates the agent on the current event-loop context: selects the backend and creates the
   * policy on the agent's worker thread (a GPU context is bound to it).
   *
   * @param context the owner event loop (the verticle's)
   * @param config the settings
   * @param registry where the agent's and the round's metrics go, or {@code null} for nowhere
   */
  public static Future<Agent> create(Context context, AgentConfig config, MeterRegistry registry) {
    String workerName = "agent.policy." + INSTANCES.getAndIncrement();
    // Pool size 1, given to every step round: one thread runs every forward pass and update.
    WorkerExecutor worker = context.owner().createSharedWorkerExecutor(workerName, 1, 10, TimeUnit.MINUTES);
    return worker.executeBlocking(() -> {
      Backend backend = Backends.select(config.device());
      ServiceMeters.backend(registry, "agent", backend.isGpu());
      return new PolicyAgent(backend, config.observers(), config.seed(), config.lr());
    }, true).map(policy -> new Agent(context, config, registry, worker, policy));
  }

  /** A fresh step round that already knows who left. Event loop. */
  private Round<SelectActionRequest, SelectActionReply> newRound() {
    int size = config.mode() == AgentMode.BATCH ? config.observers() : 1;
    RoundConfig rc = RoundConfig.of("select-action", "agent", size);
    if (config.maxWaitMs() > 0) {
      rc = rc.withMaxWait(Duration.ofMillis(config.maxWaitMs()),
          config.runPartial() ? PartialPolicy.RUN_PARTIAL : PartialPolicy.FAIL);
    }
    Round<SelectActionRequest, SelectActionReply> r = Round.<SelectActionRequest, SelectActionReply>builder(
            context, rc, this::batch)
        .worker(worker)
        .validator(gate::check)
        .knownParticipants(config.observerIds())
        .meterRegistry(registry)
        .inlineBatchesUpTo(inlineRows)
        .build();
    for (String id : membership.departed()) {
      r.leave(id);
    }
    return r;
  }

  /**
   * Completes once all N observers have registered, or (with {@code --partial-policy run} and
   * {@code --start-wait-ms}) that long after the first of them registered, with those registered by then: the
   * others count as departed and join from the episode after they register, as an observer that
   * comes back does. So a restarted agent does not wait for an observer that is down at the time.
   */
  public Future<Void> observersReady() {
    return ready.future();
  }

  /** Submits to the round and logs the latency (receipt to answer). Event loop. */
  Future<SelectActionReply> selectAction(SelectActionRequest q) {
    return selectAction(q, null, null);
  }

  /**
   * {@link #selectAction(SelectActionRequest)} for a caller that may give up: once
   * {@code cancelled} completes, a step still in the open round leaves it (no action is sampled
   * or recorded for it, the gate takes the step back so its resend is accepted); a step whose
   * round closed is answered as usual. Event loop.
   *
   * @param cancelled completes when the caller gave up; null for never
   * @param why how it gave up, for the failure's text
   */
  Future<SelectActionReply> selectAction(SelectActionRequest q, Future<?> cancelled, String why) {
    long t0 = System.nanoTime();
    String id = q.getObserverId();
    Round<SelectActionRequest, SelectActionReply> in = round;
    Future<SelectActionReply> answer = in.submit(id, q).andThen(ar -> {
      if (ar.succeeded()) {
        latencies.add(System.nanoTime() - t0);
        meters.actionServed();
      }
    });
    if (cancelled != null) {
      cancelled.onComplete(x -> {
        if (!answer.isComplete()) {
          // On the round's owner (this event loop): the withdrawal and the gate's take-back are
          // one step there, so a resend that follows finds both undone.
          context.runOnContext(v -> in.withdraw(id, q, why).onSuccess(left -> {
            if (left) {
              gate.takeBack(id, q.getEpisode(), q.getStep());
            }
          }));
        }
      });
    }
    return answer;
  }

  /** One round's forward passes, one per step present, on the worker (or inline). */
  private BatchResult<SelectActionReply> batch(RoundBatch<SelectActionRequest> batch) {
    List<Arrival<SelectActionRequest>> arrivals = batch.arrivals();
    SelectActionReply[] replies = new SelectActionReply[arrivals.size()];
    for (StepBatcher.StepRows rows : StepBatcher.rows(arrivals, gate::indexOf)) {
      PolicyNet.Act act = policy.act(rows.step(), rows.observers(), rows.states());
      float[] probs = act.probs().data();
      for (int r = 0; r < rows.size(); r++) {
        replies[rows.arrivals()[r]] = SelectActionReply.newBuilder()
            .setAction(act.actions()[r])
            .addProbabilities(probs[r * PolicyNet.OUT])
            .addProbabilities(probs[r * PolicyNet.OUT + 1])
            .setBatchSize(rows.size())
            .build();
      }
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

  /**
   * An observer registers (event bus or gRPC). Event loop.
   *
   * @param via the event-bus message it came in, which binds the observer to its cluster node (it
   *     leaves when that node does), or null over gRPC
   */
  Future<RegisterObserverReply> register(RegisterObserverRequest q, Message<?> via) {
    String other = via == null ? null : observerNodes.boundElsewhere(q.getObserverId(), via);
    if (other != null) {
      // A second observer process under a live one's id: refused, so neither is cut off mid-run.
      return Future.failedFuture(new RpcException(FailureCode.DUPLICATE, "observer id '" + q.getObserverId()
          + "' is live on another cluster node (" + other + "): ids must be unique; start this observer "
          + "with another --id or --index (a restarted observer is taken once its old node has left the "
          + "cluster, within --member-timeout-s)"));
    }
    int count;
    try {
      count = membership.register(q.getObserverId(), q.getGrpcEndpoint());
    } catch (RpcException e) {
      return Future.failedFuture(e);
    }
    if (count == config.observers()) {
      ready.tryComplete();
    } else if (startTimer < 0 && !ready.future().isComplete() && config.runPartial() && config.startWaitMs() > 0) {
      startTimer = context.owner().setTimer(config.startWaitMs(), t -> startWithThoseRegistered());
    }
    if (via != null) {
      observerNodes.bind(q.getObserverId(), via);
    }
    return Future.succeededFuture(RegisterObserverReply.newBuilder().setObserverCount(count).build());
  }

  /**
   * The start wait after the first registration passed before all N registered: the agent is
   * ready with those registered now, the others depart. Event loop.
   */
  private void startWithThoseRegistered() {
    startTimer = -1;
    if (ready.future().isComplete()) {
      return;
    }
    List<String> missing = membership.unregistered();
    if (missing.size() == config.observers()) {
      // every one left again meanwhile: the next registration starts the wait anew
      return;
    }
    LOG.info(() -> "agent: starting with " + (config.observers() - missing.size()) + " of " + config.observers()
        + " observers, --start-wait-ms " + config.startWaitMs() + " after the first registered; " + missing
        + " take part from the episode after they register");
    for (String id : missing) {
      membership.depart(id);
      round.leave(id);
    }
    ready.tryComplete();
  }

  /** Event-bus or gRPC Leave: the observer is gone until it registers again. Event loop. */
  Future<LeaveReply> leave(LeaveRequest q) {
    String id = q.getParticipantId();
    try {
      membership.requireKnown(id);
    } catch (RpcException e) {
      return Future.failedFuture(e);
    }
    observerNodes.unbind(id);
    return observerLeft(id, "it left").map(n -> LeaveReply.newBuilder().setExpected(n).build());
  }

  /**
   * An observer is gone: the step rounds stop waiting for it, the running episode goes on without
   * it, later episodes leave it out until it registers again. Event loop.
   */
  private Future<Integer> observerLeft(String id, String why) {
    if (membership.depart(id)) {
      LOG.warning(() -> "agent: observer '" + id + "' left (" + why + "); the rounds go on without it");
      if (current != null) {
        current.exclude(id, why);
      }
    }
    return round.leave(id);
  }

  /**
   * A step round's maximum wait starts at its first arrival, so an episode in which no observer
   * sends a step at all (their episode calls lost in a cluster that split, say) would wait for the
   * episode timeout (ten minutes). Every {@code --max-wait-ms} while the episode runs: if no step at
   * all was accepted since the last look, the members still stepping sit out the rest of the
   * episode, as after a partial round (it then ends with those that finished, or fails loudly if
   * none did). Found by {@code bench chaos}. Likewise a member that answered every step but whose
   * report has not come two maximum waits later (both its paths lost it) sits out. Event loop.
   */
  private void watchForSilence(EpisodeRun run) {
    if (config.maxWaitMs() <= 0) {
      return;
    }
    long[] stepsAtLastCheck = {-1};
    // Members seen with every step answered, and at how many looks since.
    Map<String, Integer> finished = new HashMap<>();
    silenceTimer = context.owner().setPeriodic(config.maxWaitMs(), t -> {
      if (current != run) {
        context.owner().cancelTimer(t);
        return;
      }
      long steps = 0;
      for (String id : config.observerIds()) {
        steps += Math.max(0, gate.next(id));
      }
      boolean silent = steps == stepsAtLastCheck[0];
      stepsAtLastCheck[0] = steps;
      for (String id : config.observerIds()) {
        if (!run.waitsFor(id)) {
          continue;
        }
        if (gate.next(id) >= run.steps()) {
          // Every step answered, yet no report two whole --max-wait-ms after that was first seen:
          // lost on its way (both paths); the episode does not wait for its timeout.
          if (finished.merge(id, 1, Integer::sum) > 2) {
            sitOut(id, "ran every step of episode " + run.episode() + " but its report has not arrived for "
                + 2 * config.maxWaitMs() + " ms (twice --max-wait-ms)", "its report did not arrive");
          }
        } else if (silent) {
          sitOut(id, "sent no step of episode " + run.episode() + " for " + config.maxWaitMs()
              + " ms (--max-wait-ms), nor did any other", "sent no step for " + config.maxWaitMs() + " ms");
        }
      }
    });
  }

  /**
   * An observer's episode report that came over the data channel ({@code agent.episode-report})
   * rather than as the answer to the agent's run-episode call: it counts if the running episode
   * still waits for that observer; else (answered already on the event bus, another episode) it is
   * ignored.
   *
   * @return whether it counted; fails with {@code BAD_REQUEST} for an observer id this agent does
   *     not serve
   */
  Future<Boolean> episodeReport(RunEpisodeReply report) {
    Promise<Boolean> p = Promise.promise();
    context.runOnContext(v -> {
      String id = report.getObserverId();
      if (gate.indexOf(id) < 0) {
        p.fail(new RpcException(FailureCode.BAD_REQUEST, "an episode report of observer '" + id
            + "', which this agent does not serve (observers: " + config.observerIds() + ")"));
        return;
      }
      EpisodeRun run = current;
      p.complete(run != null && run.episode() == report.getEpisode() && run.answer(id, report));
    });
    return p.future();
  }

  /**
   * After a step round closed by the maximum wait: the episode's observers that did not send that
   * step sit out the rest of the episode (they are out of step with the others). Event loop.
   */
  private void sitOutMissing(Set<String> arrived, int step) {
    for (String id : config.observerIds()) {
      if (current != null && current.waitsFor(id) && !arrived.contains(id)) {
        sitOut(id, "missed step " + step + " (--max-wait-ms " + config.maxWaitMs() + ")", "missed step " + step);
      }
    }
  }

  /**
   * Puts an observer of the running episode out of its step rounds for the rest of it (its call is
   * no longer waited for), unless it sits out already. Event loop.
   */
  private void sitOut(String id, String logWhy, String why) {
    if (membership.sitOut(id)) {
      LOG.warning(() -> "agent: observer '" + id + "' " + logWhy + "; it sits out the rest of the episode");
      round.leave(id);
      current.exclude(id, why);
    }
  }

  /**
   * Runs one episode on all live observers and one update. Call it from anywhere; one at a time.
   *
   * @param nSteps steps per observer, &gt; 0
   * @return the episode's outcome; fails with {@code BAD_REQUEST} for {@code nSteps} outside
   *     [1, {@link Addresses#MAX_EPISODE_STEPS}] or an episode record too large for this many
   *     observers, {@code UNAVAILABLE} while another episode runs, or an observer's failure (the
   *     round is then replaced, so the next episode starts clean)
   */
  public Future<EpisodeResult> runEpisode(int nSteps) {
    Promise<EpisodeResult> p = Promise.promise();
    context.runOnContext(v -> episode(nSteps).onComplete(p));
    return p.future();
  }

  private Future<EpisodeResult> episode(int nSteps) {
    if (nSteps <= 0 || nSteps > Addresses.MAX_EPISODE_STEPS) {
      return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "--steps (n_steps) must be > 0 and at most "
          + Addresses.MAX_EPISODE_STEPS + ", got " + nSteps));
    }
    if (current != null) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "an episode is already running"));
    }
    List<String> members = membership.live();
    if (members.isEmpty()) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "no live observer: all "
          + config.observers() + " left (register an observer again)"));
    }
    EpisodeRun run = new EpisodeRun(nextEpisode++, nSteps, members, gate::indexOf, config.observers());
    current = run;
    // Those that sat out the last episode, or came back since, take part again.
    for (String id : membership.endSitOuts()) {
      round.rejoin(id);
    }
    RunEpisodeRequest q = run.request();
    return worker.executeBlocking(() -> {
      policy.beginEpisode(nSteps);
      return null;
    }, true).compose(v -> {
      Future<List<Future<RunEpisodeReply>>> answered = run.callAll(
          id -> calls.runEpisode(id, membership.grpcEndpoint(id), q),
          (id, e) -> observerLeft(id, "its episode call failed: " + RpcException.of(e).getMessage()));
      gate.open(run.episode(), nSteps, run.membersByIndex());
      watchForSilence(run);
      return answered;
    }).compose(answered -> {
      gate.close();
      run.endCalls();
      return run.reports();
    }).compose(r -> worker.executeBlocking(() -> policy.finishEpisode(r.rewards(), r.done(),
            r.firstEpisodeRewards(), config.gamma(), r.included()), true))
        .map(u -> new EpisodeResult(run.episode(), nSteps, u.loss(), u.episodeReward(), u.runningReward(),
            run.seconds(), u.observers()))
        .andThen(ar -> {
          if (ar.succeeded()) {
            meters.episodeDone(ar.result());
          }
        })
        .transform(ar -> {
          current = null;
          if (silenceTimer >= 0) {
            context.owner().cancelTimer(silenceTimer);
            silenceTimer = -1;
          }
          gate.close();
          run.endCalls();
          if (ar.succeeded()) {
            return Future.succeededFuture(ar.result());
          }
          // Stragglers of a failed episode may sit in the open round: fail them and start afresh.
          Round<SelectActionRequest, SelectActionReply> old = round;
          round = newRound();
          return old.close().transform(closed -> Future.failedFuture(RpcException.of(ar.cause())));
        });
  }

  /** The policy's parameters now (read on the worker between rounds). */
  public Future<float[]> parameters() {
    Promise<float[]> p = Promise.promise();
    context.runOnContext(v -> worker.executeBlocking(policy::parameters, true).onComplete(p));
    return p.future();
  }

  /** Per-request latency percentiles since the last call (receipt of a request to its answer). */
  public Future<LatencyLog.Summary> drainLatencies() {
    Promise<LatencyLog.Summary> p = Promise.promise();
    context.runOnContext(v -> p.complete(latencies.drain()));
    return p.future();
  }

  /** Stops following the observers' nodes, fails what waits in the round, frees the policy. */
  Future<Void> close() {
    observerNodes.close();
    return Future.join(round.close(), calls.close()).eventually(() -> worker.executeBlocking(() -> {
      policy.close();
      return null;
    }, true)).eventually(() -> worker.close()).mapEmpty();
  }
}
