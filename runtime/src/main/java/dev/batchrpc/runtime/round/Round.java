package dev.batchrpc.runtime.round;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A round: collects one request from each of N participants, runs one batched computation over
 * them, and completes every caller's future with its share of the result.
 *
 * <h2>Closing</h2>
 * A round closes when the arrivals it needs are in (N, the configured round size
 * {@link RoundConfig#expected()}, less departures: see Membership), or, if the config has a
 * {@link RoundConfig#maxWait() maxWait}, when that much time has passed since its first arrival;
 * such a partial round is run with what arrived or failed with
 * {@link FailureCode#ROUND_TIMEOUT}, per its {@link PartialPolicy}.
 *
 * <h2>Membership</h2>
 * Rounds follow the live participants, so a lost one never holds a round. {@link #leave(String)}
 * (its node left the cluster, it deregistered, or it stopped answering) removes a participant:
 * the open round stops waiting for it at once (closing if everyone else is there) and later rounds
 * do not count it; a request it already placed in the open round stays. {@link #rejoin(String)}
 * and new ids in {@link #setKnownParticipants} count from the next round: the open round does not
 * wait for them, but takes their request if it comes. A departed participant's requests are
 * refused ({@link FailureCode#UNKNOWN_PARTICIPANT}) until it rejoins.
 *
 * <p>The number a round waits for, when it opens: {@code max(1, min(N, max(K, N) - D))}, where N
 * is the configured round size ({@link #setExpected(int)}), K the number of known participants
 * (0 when anyone may submit) and D the number of departed ones. So with N known participants the
 * round shrinks by one per departure; with spares (K &gt; N) it shrinks only when fewer than N are
 * live; while participants are still registering (K &lt; N) it keeps waiting for the unregistered
 * ones. {@link #setExpected(int)} follows the same rule: a smaller N applies to the open round at
 * once, a larger one from the next round.
 *
 * <h2>Refusals</h2>
 * A request is refused at once, without joining or harming the open round, when its participant is
 * not in the known set ({@link FailureCode#UNKNOWN_PARTICIPANT}, only if a set was given), when its
 * participant already has a request in the open round ({@link FailureCode#DUPLICATE}; the first
 * request stays), or when the {@link RequestValidator} throws (its code, or
 * {@link FailureCode#BAD_REQUEST}). Refusals are counted in {@code <prefix>.round.rejected}.
 *
 * <h2>Withdrawals</h2>
 * A caller that gives up (a cancelled gRPC call, an expired deadline, a closed connection) takes
 * its request back with {@link #withdraw}: while the round is open the request leaves it as if it
 * had never come (the round waits for that participant again and takes its resend; the batch never
 * sees it); once the round has closed it is counted as usual. The last request of an open round
 * withdrawn, the round is dropped (its max-wait timer with it). With an {@link ArrivalListener} the
 * open round is renumbered: the listener's work for the old number covers the withdrawn request,
 * so the batch, seeing a round number whose calls did not start at slot 0, must not use it
 * (see {@link ArrivalListener}). Counted in {@code <prefix>.round.withdrawn}.
 *
 * <h2>Batches</h2>
 * The {@link BatchFunction} runs off the event loop on one single-thread worker, ordered: the
 * batches of consecutive rounds never overlap and run in round order, always on the same thread
 * (GPU work stays on one thread). A service whose other work must share that thread (the model it
 * created there, a GPU context) passes its own one-thread worker ({@link Builder#worker}); without
 * one the round makes its own. While a batch runs,
 * new arrivals open the next round; they never join the running batch and are never lost. A batch
 * that throws fails that round's callers with {@link FailureCode#BATCH_FAILED}; the next round
 * runs normally.
 *
 * <p>Inline batches ({@link Builder#inlineBatchesUpTo(int)}, off by default): a round of at most
 * that many arrivals runs its batch at once on the owner context, when no worker batch is in
 * flight (so batches still run one at a time, in round order), and answers its callers from
 * there. For batch functions of a few microseconds (a small CPU forward pass), where the two
 * thread hand-offs to the worker and back cost more than the work; never for GPU work or
 * anything that could block, and only for batch functions whose state is not bound to the
 * worker thread (the hand-offs through the worker order every access).
 *
 * <h2>Threads</h2>
 * The round is owned by one Vert.x context, normally the event loop of the verticle that creates
 * it. All round state (the open round, N, the known participants) is read and written only on that
 * context, so it needs no lock. The public methods may be called from any thread or context: they
 * hop to the owner context, return at once, and complete their future on the caller's context
 * (the owner context when called from a non-Vert.x thread).
 *
 * <h2>Use</h2>
 * <pre>{@code
 * // in a verticle's start(), on its event loop
 * Round<UpdateRequest, ModelReply> round = Round.builder(context,
 *         RoundConfig.of("update", "ps", trainers),
 *         batch -> BatchResult.shared(store.stepAndEncode(batch.arrivals())))
 *     .validator((id, q) -> store.checkShape(q))
 *     .meterRegistry(node.registry())
 *     .build();
 * vertx.eventBus().<UpdateRequest>consumer(Addresses.PS_UPDATE_AND_FETCH, msg ->
 *     round.submit(msg.body().getParticipantId(), msg.body())
 *         .onSuccess(msg::reply)
 *         .onFailure(e -> RpcException.replyFailure(msg, e)));
 * }</pre>
 *
 * <h2>Metrics</h2>
 * {@code <prefix>.round.size} (arrivals per closed round), {@code <prefix>.round.wait} (first
 * arrival to close), {@code <prefix>.round.compute} (batch time on the worker),
 * {@code <prefix>.rounds{outcome=complete|shrunk|partial|failed|timeout}} ({@code shrunk}: closed
 * with every live participant after departures lowered its size), {@code <prefix>.round.departures} and
 * {@code <prefix>.round.rejected{reason=<FailureCode>}}, {@code <prefix>.round.withdrawn}; all also
 * tagged {@code round=<name>}.
 *
 * <p>Length: over 350 lines on purpose. The round's state (open round, arrivals, departures,
 * partial closes, the worker hand-off) is one concurrency contract confined to its owner context;
 * its parts are already out ({@code RoundConfig}, {@code RoundBatch}, {@code Arrival}, {@code
 * BatchResult}, {@code PartialPolicy}).
 *
 * @param <Q> the request type
 * @param <R> the result type
 */
public final class Round<Q, R> {

  private static final System.Logger LOG = System.getLogger(Round.class.getName());

  private final Context owner;
  private final RoundConfig config;
  private final BatchFunction<Q, R> batchFunction;
  private final RequestValidator<Q> validator;
  private final ArrivalListener<Q> arrivalListener;
  private final RoundMetrics metrics;
  private final WorkerExecutor worker;
  /** Whether the round made its worker (and so closes it); a caller's worker stays the caller's. */
  private final boolean ownsWorker;
  private final int inlineMaxArrivals;

  // ---- state confined to the owner context ----
  /** N: the configured round size; at least 1. */
  private int expected;
  /** The participants allowed to submit, or null for anyone. */
  private Set<String> known;
  /** Participants that left and have not rejoined; their requests are refused. */
  private final Set<String> departed = new HashSet<>();
  /** The round collecting arrivals, or null when no request is waiting. */
  private Open<Q, R> open;
  /** The sequence number the next opened round gets. */
  private long nextRound;
  /** The last batch handed to the worker, completing after its callers were answered. */
  private Future<Void> lastBatch = Future.succeededFuture();
  private boolean closed;

  private Round(Builder<Q, R> b) {
    this.owner = b.owner;
    this.config = b.config;
    this.batchFunction = b.batchFunction;
    this.validator = b.validator;
    this.arrivalListener = b.arrivalListener;
    this.metrics = new RoundMetrics(b.registry, b.config);
    this.expected = b.config.expected();
    this.known = b.known == null ? null : Set.copyOf(b.known);
    this.inlineMaxArrivals = b.inlineMaxArrivals;
    this.ownsWorker = b.worker == null;
    // Pool size 1: one thread runs every batch of this round in submission order. The max execute
    // time only raises Vert.x's blocked-thread warning; a large model's batch may legitimately take
    // long, so it is generous.
    this.worker = ownsWorker
        ? owner.owner().createSharedWorkerExecutor(config.metricPrefix() + "." + config.name() + ".batch", 1,
            10, TimeUnit.MINUTES)
        : b.worker;
  }

  /**
   * Starts building a round.
   *
   * @param owner the context that owns the round's state, normally the creating verticle's
   *     {@code context}; must be an event-loop context
   * @param config how the round closes and reports
   * @param batchFunction the batched computation
   * @param <Q> the request type
   * @param <R> the result type
   * @return a builder
   */
  public static <Q, R> Builder<Q, R> builder(Context owner, RoundConfig config,
      BatchFunction<Q, R> batchFunction) {
    return new Builder<>(owner, config, batchFunction);
  }

  /** The round's configuration as created ({@link #setExpected(int)} does not change it). */
  public RoundConfig config() {
    return config;
  }

  /**
   * Submits one participant's request to the open round (opening one if none is open).
   *
   * <p>Returns at once; never blocks. The future completes on the caller's context with this
   * participant's result once its round's batch has run, or fails with an {@link RpcException}:
   * at once for a refusal ({@code UNKNOWN_PARTICIPANT}, {@code DUPLICATE}, the validator's code,
   * {@code BAD_REQUEST} for a blank id, {@code UNAVAILABLE} after {@link #close()}), later for
   * {@code ROUND_TIMEOUT} or {@code BATCH_FAILED}.
   *
   * @param participantId who submits; unique per participant
   * @param request the request, handed to the batch as is (not copied)
   * @return the participant's result
   */
  public Future<R> submit(String participantId, Q request) {
    Promise<R> promise = VertxInternals.promise(callerContext());
    Pending<Q, R> pending = new Pending<>(participantId, request, promise);
    onOwner(() -> arrive(pending));
    return promise.future();
  }

  /**
   * Changes N, the configured round size. A smaller N applies to the open round at once (it closes
   * now if it already holds enough arrivals: a full round, not a partial one); a larger one from
   * the next round. See the class comment for how departures reduce it.
   *
   * @param n the new expected number, at least 1
   * @return completes on the caller's context once applied
   * @throws IllegalArgumentException if {@code n < 1}
   */
  public Future<Void> setExpected(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("round '" + config.name() + "' expected must be at least 1, got " + n);
    }
    return call(() -> {
      expected = n;
      shrinkOpen();
      return Future.succeededFuture();
    });
  }

  /**
   * Removes a participant from the rounds: the open round stops waiting for it (and closes if all
   * other participants it waits for are there), later rounds do not count it, and its requests are
   * refused until {@link #rejoin(String)}. A request it already placed in the open round stays and
   * is answered. Idempotent; an id that is not known (when a known set is given) is ignored.
   *
   * @param participantId the participant that left
   * @return the number the next round waits for, on the caller's context
   */
  public Future<Integer> leave(String participantId) {
    Objects.requireNonNull(participantId, "participantId");
    return call(() -> {
      if (known != null && !known.contains(participantId) || departed.contains(participantId)) {
        return Future.succeededFuture(target());
      }
      int before = target();
      departed.add(participantId);
      metrics.departures.increment();
      if (open != null && open.uncounted.remove(participantId)) {
        // It joined while this round was open and was never waited for: take back what its
        // joining added to the later rounds, not what the open round waits for.
        open.extra -= Math.min(open.extra, before - target());
      } else {
        shrinkOpen();
      }
      return Future.succeededFuture(target());
    });
  }

  /**
   * Brings a departed participant back: counted from the next round (the open round does not wait
   * for it, but takes its request). A participant that never left is unaffected.
   *
   * @param participantId the participant that returned
   * @return the number the next round waits for, on the caller's context
   */
  public Future<Integer> rejoin(String participantId) {
    Objects.requireNonNull(participantId, "participantId");
    return call(() -> {
      int before = target();
      if (departed.remove(participantId)) {
        countFromNextRound(participantId, target() - before);
      }
      return Future.succeededFuture(target());
    });
  }

  /**
   * The number of participants the next round waits for (N less the departures, see the class
   * comment), read on the owner context.
   *
   * @return completes on the caller's context
   */
  public Future<Integer> expected() {
    return call(() -> Future.succeededFuture(target()));
  }

  /**
   * Restricts who may submit from now on: others are refused with
   * {@link FailureCode#UNKNOWN_PARTICIPANT}. Requests already in the open round stay.
   *
   * @param participantIds the allowed participants, or {@code null} to allow anyone
   * @return completes on the caller's context once applied
   */
  public Future<Void> setKnownParticipants(Collection<String> participantIds) {
    Set<String> copy = participantIds == null ? null : Set.copyOf(participantIds);
    return call(() -> {
      int before = target();
      Set<String> previous = known;
      known = copy;
      if (copy != null) {
        departed.retainAll(copy);
      }
      int grown = target() - before;
      if (grown > 0 && copy != null) {
        for (String id : copy) {
          if (previous == null || !previous.contains(id)) {
            countFromNextRound(id, grown);
            grown = 0;
          }
        }
      }
      shrinkOpen();
      return Future.succeededFuture();
    });
  }

  /**
   * The number of requests waiting in the open round (0 when none is open), read on the owner
   * context. For health reports and tests.
   *
   * @return completes on the caller's context
   */
  public Future<Integer> openArrivals() {
    return call(() -> Future.succeededFuture(open == null ? 0 : open.size()));
  }

  /**
   * Takes {@code request} (the very object given to {@link #submit}) back from the open round, if
   * it waits there: it leaves the round as if it had never come (the round waits for the
   * participant again and accepts its resend), and its future fails with {@link FailureCode#UNAVAILABLE}
   * naming {@code why}. A request whose round has closed (its batch runs or ran) stays and is
   * answered as usual; so does a newer request of the same participant. See the class comment.
   *
   * @param participantId the participant that submitted it
   * @param request the request as submitted
   * @param why why the caller gave up, for the failure's text (e.g. "its gRPC call was cancelled")
   * @return true if the request left the open round, false if it was not there (its round closed,
   *     it was refused, or it never came); on the caller's context
   */
  public Future<Boolean> withdraw(String participantId, Q request, String why) {
    Objects.requireNonNull(participantId, "participantId");
    return call(() -> Future.succeededFuture(withdrawOpen(participantId, request, why)));
  }

  /**
   * Closes the round: refuses new requests with {@link FailureCode#UNAVAILABLE}, fails the open
   * round's callers the same way, lets a running batch finish and answer its callers, then releases
   * the worker it made (a worker given to {@link Builder#worker} stays open: it is the caller's).
   *
   * @return completes on the caller's context when the last batch is done and the worker released
   */
  public Future<Void> close() {
    return call(() -> {
      if (!closed) {
        closed = true;
        if (open != null) {
          Open<Q, R> r = open;
          open = null;
          cancelTimer(r);
          failAll(r, new RpcException(FailureCode.UNAVAILABLE,
              "round '" + config.name() + "' closed with " + r.size() + " of " + r.needed + " arrived"));
        }
        lastBatch = ownsWorker ? lastBatch.eventually(worker::close) : lastBatch;
      }
      return lastBatch;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // owner context only below this line

  private boolean withdrawOpen(String id, Q request, String why) {
    Open<Q, R> r = open;
    if (r == null || !r.ids.contains(id)) {
      return false;
    }
    Pending<Q, R> p = null;
    for (Pending<Q, R> q : r.pending) {
      if (q.participantId.equals(id)) {
        p = q;
        break;
      }
    }
    if (p == null || p.request != request) {
      return false;
    }
    r.pending.remove(p);
    r.ids.remove(id);
    if (p.late) {
      // A joiner the round did not wait for until it came: not waited for again.
      r.needed--;
      r.extra++;
      r.uncounted.add(id);
    }
    metrics.withdrawn.increment();
    RpcException gone = new RpcException(FailureCode.UNAVAILABLE, "the request of '" + id
        + "' left open round " + r.id + " of '" + config.name() + "' before it closed: " + why);
    // Failed once the worker is past its arrival listener call: the request's buffers (a pooled
    // gradient) may be reused as soon as its future completes.
    Pending<Q, R> left = p;
    (p.seen == null ? Future.<Void>succeededFuture() : p.seen).onComplete(x -> left.promise.fail(gone));
    if (r.pending.isEmpty()) {
      open = null;
      cancelTimer(r);
      return true;
    }
    if (arrivalListener != null) {
      // The listener's work for this round number includes the withdrawn request: later arrivals
      // come under a new number that never had a slot 0, so the batch does not use that work.
      r.id = nextRound++;
    }
    shrinkOpen();
    return true;
  }

  private void arrive(Pending<Q, R> p) {
    String id = p.participantId;
    if (closed) {
      refuse(p, new RpcException(FailureCode.UNAVAILABLE, "round '" + config.name() + "' is closed"));
      return;
    }
    if (id == null || id.isBlank()) {
      refuse(p, new RpcException(FailureCode.BAD_REQUEST, "participant id must not be blank"));
      return;
    }
    if (known != null && !known.contains(id)) {
      refuse(p, new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "participant '" + id
          + "' is not one of the " + known.size() + " known participants of round '" + config.name() + "'"));
      return;
    }
    if (departed.contains(id)) {
      refuse(p, new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "participant '" + id
          + "' left the rounds of '" + config.name() + "' (its node left the cluster, it deregistered "
          + "or it stopped answering); register again to rejoin"));
      return;
    }
    if (open != null && open.ids.contains(id)) {
      refuse(p, new RpcException(FailureCode.DUPLICATE, "participant '" + id
          + "' already has a request in open round " + open.id + " of '" + config.name() + "' ("
          + open.size() + " of " + open.needed + " arrived)"));
      return;
    }
    if (validator != null) {
      try {
        validator.validate(id, p.request);
      } catch (RpcException e) {
        refuse(p, e);
        return;
      } catch (RuntimeException e) {
        refuse(p, new RpcException(FailureCode.BAD_REQUEST, e.getMessage() == null
            ? e.getClass().getName() : e.getMessage(), e));
        return;
      } catch (Error e) {
        // Not the caller's fault, but the caller must still get an answer rather than hang.
        refuse(p, RpcException.of(e));
        return;
      }
    }
    if (open == null) {
      open = new Open<>(nextRound++, System.nanoTime(), target());
    }
    if (open.uncounted.remove(id) && open.extra > 0) {
      // A participant that (re)joined while this round was open: it is here, so it counts now.
      open.extra--;
      open.needed++;
      p.late = true;
    }
    open.add(p);
    if (arrivalListener != null) {
      long round = open.id;
      int slot = open.size() - 1;
      Q request = p.request;
      // On the worker, ordered with the batches (both are submitted from this context).
      Future<Void> seen = worker.<Void>executeBlocking(() -> {
        try {
          arrivalListener.arrived(round, slot, request);
        } catch (Exception e) {
          LOG.log(System.Logger.Level.DEBUG, "arrival listener of '" + config.name() + "' failed: " + e);
        }
        return null;
      }, true);
      p.seen = seen;
      lastBatch = lastBatch.transform(ignored -> seen);
    }
    if (open.size() >= open.needed) {
      closeOpen(false);
    } else if (config.maxWait() != null && open.timerId < 0) {
      // Armed once, at the first arrival that leaves the round open: the maximum wait starts at
      // the first arrival, and a round that closes at once (a round of one: every non-batch
      // step) needs no timer, which cost a Netty timer task per request.
      Open<Q, R> r = open;
      r.timerId = owner.owner().setTimer(config.maxWait().toMillis(), t -> onMaxWait(r));
    }
  }

  /** The number a round opened now waits for (class comment). */
  private int target() {
    int pool = Math.max(known == null ? 0 : known.size(), expected);
    return Math.max(1, Math.min(expected, pool - departed.size()));
  }

  /**
   * A participant (re)joined and the target grew by {@code grown}: later rounds wait for it, the
   * open round does not (it takes its request if it comes, see {@link #arrive}).
   */
  private void countFromNextRound(String id, int grown) {
    if (open != null && grown > 0 && !open.ids.contains(id)) {
      open.uncounted.add(id);
      open.extra += grown;
    }
  }

  /**
   * Lowers the number of arrivals the open round needs to what the live participants can still bring: the
   * target, less the joiners it does not wait for, plus the departed participants whose requests
   * are already in; closes it if they are all there.
   */
  private void shrinkOpen() {
    if (open == null) {
      return;
    }
    int arrivedDeparted = 0;
    for (String id : open.ids) {
      if (departed.contains(id)) {
        arrivedDeparted++;
      }
    }
    int live = Math.max(1, target() - open.extra + arrivedDeparted);
    if (live < open.needed) {
      open.needed = live;
      open.shrunk = true;
    }
    if (open.size() >= open.needed) {
      closeOpen(false);
    }
  }

  private void refuse(Pending<Q, R> p, RpcException e) {
    metrics.rejected(e.code());
    p.promise.fail(e);
  }

  private void onMaxWait(Open<Q, R> r) {
    // The timer may fire for a round that closed on size just before it was cancelled.
    if (open == r) {
      r.timerId = -1;
      closeOpen(true);
    }
  }

  private void closeOpen(boolean timedOut) {
    Open<Q, R> r = open;
    open = null;
    cancelTimer(r);
    long waitedNanos = System.nanoTime() - r.firstArrivalNanos;
    metrics.waited(waitedNanos);
    metrics.size.record(r.size());
    int n = r.needed;
    boolean partial = r.size() < n;
    if (timedOut && config.partialPolicy() == PartialPolicy.FAIL) {
      metrics.timeout.increment();
      failAll(r, new RpcException(FailureCode.ROUND_TIMEOUT, "round " + r.id + " of '" + config.name()
          + "' timed out: " + r.size() + " of " + n + " participants arrived within "
          + TimeUnit.NANOSECONDS.toMillis(waitedNanos) + " ms (max wait " + config.maxWait().toMillis() + " ms)"));
      return;
    }
    List<Arrival<Q>> arrivals = new ArrayList<>(r.size());
    for (Pending<Q, R> p : r.pending) {
      arrivals.add(new Arrival<>(p.participantId, p.request));
    }
    RoundBatch<Q> batch = new RoundBatch<>(r.id, List.copyOf(arrivals), n, partial);
    if (r.size() <= inlineMaxArrivals && lastBatch.isComplete()) {
      // Inline: no worker batch in flight, so this one is next in order anyway; lastBatch stays
      // complete. Owner context, no hand-off.
      BatchResult<R> result;
      try {
        result = runBatch(batch);
      } catch (Exception | Error e) {
        metrics.failed.increment();
        failAll(r, batchFailure(batch, e));
        return;
      }
      deliver(r, batch, result);
      return;
    }
    // Called on the owner context, so the result is delivered back on it; the single-thread pool
    // runs the batches in submission order, one at a time.
    Future<BatchResult<R>> result = worker.executeBlocking(() -> runBatch(batch), true);
    Future<Void> delivered = result.transform(ar -> {
      if (ar.succeeded()) {
        deliver(r, batch, ar.result());
      } else {
        metrics.failed.increment();
        failAll(r, batchFailure(batch, ar.cause()));
      }
      return Future.succeededFuture();
    });
    lastBatch = lastBatch.transform(ignored -> delivered);
  }

  /** Runs on the worker thread. */
  private BatchResult<R> runBatch(RoundBatch<Q> batch) throws Exception {
    long start = System.nanoTime();
    try {
      BatchResult<R> result = batchFunction.run(batch);
      if (result == null) {
        throw new IllegalStateException("batch function returned null");
      }
      if (!result.isShared() && result.count() != batch.size()) {
        throw new IllegalStateException("batch function returned " + result.count() + " results for "
            + batch.size() + " arrivals");
      }
      return result;
    } finally {
      metrics.compute.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }

  private RpcException batchFailure(RoundBatch<Q> batch, Throwable cause) {
    if (cause instanceof RpcException) {
      return (RpcException) cause;
    }
    return new RpcException(FailureCode.BATCH_FAILED, "batch of round " + batch.round() + " of '"
        + config.name() + "' (" + batch.size() + " arrivals) failed: " + RpcException.of(cause).getMessage(), cause);
  }

  private void deliver(Open<Q, R> r, RoundBatch<Q> batch, BatchResult<R> result) {
    (batch.partial() ? metrics.partial : r.shrunk ? metrics.shrunk : metrics.complete).increment();
    // Invariant: each pending request belongs to exactly one round and is completed exactly once.
    List<Pending<Q, R>> pending = r.pending;
    for (int i = 0; i < pending.size(); i++) {
      pending.get(i).promise.complete(result.get(i));
    }
  }

  private void failAll(Open<Q, R> r, RpcException e) {
    for (Pending<Q, R> p : r.pending) {
      p.promise.fail(e);
    }
  }

  private void cancelTimer(Open<Q, R> r) {
    if (r.timerId >= 0) {
      owner.owner().cancelTimer(r.timerId);
      r.timerId = -1;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // context hops

  /** The context a caller's future completes on: its own, or the owner's for a non-Vert.x thread. */
  private Context callerContext() {
    Context current = Vertx.currentContext();
    return current == null ? owner : current;
  }

  /**
   * Runs the action on the owner context: inline when already on it (exactly it, so that the
   * worker's ordered results and timers come back to it), otherwise queued to it.
   */
  private void onOwner(Runnable action) {
    if (Vertx.currentContext() == owner) {
      action.run();
    } else {
      owner.runOnContext(v -> action.run());
    }
  }

  /** Runs the action on the owner context and completes the result on the caller's context. */
  private <T> Future<T> call(Supplier<Future<T>> action) {
    Promise<T> promise = VertxInternals.promise(callerContext());
    onOwner(() -> {
      try {
        action.get().onComplete(promise);
      } catch (RuntimeException e) {
        promise.fail(e);
      }
    });
    return promise.future();
  }

  // ---------------------------------------------------------------------------------------------

  /** A request waiting for its round. */
  private static final class Pending<Q, R> {
    final String participantId;
    final Q request;
    final Promise<R> promise;
    /** Its arrival listener call done (null without a listener); owner context. */
    Future<Void> seen;
    /** It joined while its round did not wait for it, and so raised what the round needs. */
    boolean late;

    Pending(String participantId, Q request, Promise<R> promise) {
      this.participantId = participantId;
      this.request = request;
      this.promise = promise;
    }
  }

  /** The open round; owner context only. Invariant: {@code ids} are the participants of {@code pending}. */
  private static final class Open<Q, R> {
    /** The round's number; renumbered when a request is withdrawn under an arrival listener. */
    long id;
    final long firstArrivalNanos;
    final List<Pending<Q, R>> pending = new ArrayList<>();
    final Set<String> ids = new HashSet<>();
    /** Participants that (re)joined while this round was open: not waited for, counted if they come. */
    final Set<String> uncounted = new HashSet<>();
    /** How much the target grew from joins since this round opened (not waited for here). */
    int extra;
    /** How many arrivals close this round: the target when it opened, lowered by departures. */
    int needed;
    /** Whether departures lowered {@link #needed}. */
    boolean shrunk;
    long timerId = -1;

    Open(long id, long firstArrivalNanos, int needed) {
      this.id = id;
      this.firstArrivalNanos = firstArrivalNanos;
      this.needed = needed;
    }

    void add(Pending<Q, R> p) {
      pending.add(p);
      ids.add(p.participantId);
    }

    int size() {
      return pending.size();
    }
  }

  /**
   * Builds a {@link Round}.
   *
   * @param <Q> the request type
   * @param <R> the result type
   */
  public static final class Builder<Q, R> {
    private final Context owner;
    private final RoundConfig config;
    private final BatchFunction<Q, R> batchFunction;
    private RequestValidator<Q> validator;
    private ArrivalListener<Q> arrivalListener;
    private Collection<String> known;
    private MeterRegistry registry;
    private WorkerExecutor worker;
    private int inlineMaxArrivals;

    private Builder(Context owner, RoundConfig config, BatchFunction<Q, R> batchFunction) {
      this.owner = Objects.requireNonNull(owner, "owner");
      this.config = Objects.requireNonNull(config, "config");
      this.batchFunction = Objects.requireNonNull(batchFunction, "batchFunction");
      if (!owner.isEventLoopContext()) {
        throw new IllegalArgumentException("round owner must be an event-loop context");
      }
    }

    /** Checks each request before it joins a round; none by default. */
    public Builder<Q, R> validator(RequestValidator<Q> validator) {
      this.validator = validator;
      return this;
    }

    /** The participants allowed to submit; anyone by default (see {@link Round#setKnownParticipants}). */
    public Builder<Q, R> knownParticipants(Collection<String> participantIds) {
      this.known = participantIds;
      return this;
    }

    /**
     * Sees each request that joined a round, on the worker, before the batch (see
     * {@link ArrivalListener}); none by default. Not combined with inline batches.
     */
    public Builder<Q, R> arrivalListener(ArrivalListener<Q> listener) {
      this.arrivalListener = listener;
      return this;
    }

    /**
     * The worker the batches (and arrival listeners) run on, in order: it must have one thread
     * (pool size 1), and it stays the caller's ({@link Round#close()} does not close it). By
     * default the round makes its own one-thread worker and closes it with the round.
     */
    public Builder<Q, R> worker(WorkerExecutor worker) {
      this.worker = Objects.requireNonNull(worker, "worker");
      return this;
    }

    /** The registry the round's meters go to; by default they are recorded nowhere. */
    public Builder<Q, R> meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /**
     * Runs a round's batch on the owner context, without the worker, when it has at most
     * {@code arrivals} arrivals and no worker batch is in flight (see the class comment); 0, the
     * default, never does.
     */
    public Builder<Q, R> inlineBatchesUpTo(int arrivals) {
      if (arrivals < 0) {
        throw new IllegalArgumentException("inlineBatchesUpTo must be >= 0, got " + arrivals);
      }
      this.inlineMaxArrivals = arrivals;
      return this;
    }

    /** Creates the round (and its worker, unless given one). */
    public Round<Q, R> build() {
      if (arrivalListener != null && inlineMaxArrivals > 0) {
        throw new IllegalStateException("an arrival listener runs on the worker: no inline batches with it");
      }
      if (registry == null) {
        registry = new CompositeMeterRegistry();
      }
      return new Round<>(this);
    }
  }
}
