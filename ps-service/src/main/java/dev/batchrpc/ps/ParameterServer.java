package dev.batchrpc.ps;

import com.google.protobuf.UnsafeByteOperations;
import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.Backends;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.round.Arrival;
import dev.batchrpc.runtime.round.BatchResult;
import dev.batchrpc.runtime.round.PartialPolicy;
import dev.batchrpc.runtime.round.Round;
import dev.batchrpc.runtime.round.RoundBatch;
import dev.batchrpc.runtime.round.RoundConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.WorkerExecutor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * The batch-updating parameter server, independent of transport: the event-bus consumer and the
 * gRPC service both call {@link #getModel} and {@link #updateAndFetch}, so they share one round.
 *
 * <p>A round collects one {@link UpdateRequest} per trainer; the last arrival runs, on the round's
 * ordered worker thread: {@link ParameterStore#step(FloatBuffer[])} over the gradients' protobuf
 * bytes in arrival order (sum, divide by n, one SGD step; on the CPU one fused pass that reads
 * each gradient in place, on a GPU staged uploads) or, for models of
 * {@value #ACCUMULATE_FROM_PARAMETERS} parameters and more on the CPU, the end of a sum kept as
 * the gradients arrived ({@link ParameterStore#stepAccumulated}, bit-identical); then it reads the
 * parameters once into a little-endian buffer and builds ONE {@link ModelReply} that every caller
 * of the round receives (encoded once per round, sent n times). With a data channel the buffer is
 * off-heap and pooled ({@link PooledReply}): reused once the latest model moved on and every
 * data-channel write of it is done, never when the reply also went to the event bus or gRPC.
 *
 * <p>Refusals, each before the request joins a round, so the round and the model are unharmed:
 * a blank or malformed id ({@code BAD_REQUEST}), gradients of the wrong shape
 * ({@code SHAPE_MISMATCH}), a model version other than the current one ({@code STALE_VERSION} or {@code FUTURE_VERSION}:
 * synchronous SGD), NaN or infinity ({@code NON_FINITE}), an unknown trainer
 * ({@code UNKNOWN_PARTICIPANT}) or a second request in one round ({@code DUPLICATE}).
 *
 * <p>Threads: created on, and owned by, one event-loop context (the verticle's). The round state
 * lives on that context; the store is confined to the round's worker thread (it is created there
 * too, which a GPU backend needs). {@link #latest} and {@link #version} are written by the worker
 * and read anywhere (volatile); a trainer only learns a version from a reply, which is sent after
 * the write, so the version check never refuses a current request.
 *
 * <p>Length: over 350 lines on purpose. A round's admission checks, its arrival-time accumulation,
 * its step and its once-encoded reply share one ordering contract (the round's worker thread); the
 * transports are in their own classes ({@code ParameterServerVerticle}, {@code
 * ParameterServerGrpc}, {@code ParameterServerData}).
 */
public final class ParameterServer {

  /**
   * Gradients up to this many floats are checked for NaN/Inf inline on the event loop (a 1M-float
   * scan takes well under a millisecond); larger ones on a worker, so the loop never stalls.
   */
  static final int INLINE_FINITE_CHECK_LIMIT = 1 << 20;

  /**
   * From this many parameters on (and on the CPU), each gradient is added to the round's running
   * sum on the round's worker as it arrives, so the step after the last arrival reads one gradient
   * and the sum instead of all N gradients. Below it the N gradients are summed in the one fused
   * pass of the step: for a small model the worker hand-off per arrival costs more than the pass.
   * Either way the same floats are added in the same (arrival) order: bit-identical results.
   */
  static final int ACCUMULATE_FROM_PARAMETERS = 1 << 20;

  private static final System.Logger LOG = System.getLogger(ParameterServer.class.getName());

  /** The name of the server's one-thread worker (Vert.x's pool of that name). */
  private static final String WORKER_NAME = "ps.update.batch";

  private final PsConfig config;
  private final Context context;
  private final ParameterStore store;
  private final Round<UpdateRequest, ModelReply> round;
  private final WorkerExecutor worker;
  /** Checkpoints and their schedule (a no-op without --checkpoint-dir); round worker only. */
  private final CheckpointWriter checkpointer;
  /** {@code --round-log}, or null (worker). */
  private final RoundLog roundLog;
  private final int size;
  private final long[] shape;
  /** Registered trainers (registration mode); owner context only. */
  private final Set<String> registered = new LinkedHashSet<>();
  private volatile ModelReply latest;
  /** The latest reply's pooled buffer and its references, or null while replies are not pooled. */
  private volatile PooledReply current;
  /** Off-heap reply buffers, reused once nobody reads them ({@link PooledReply}). */
  private final BufferPool replyPool;
  /**
   * Requests of data-channel callers that release their reply after writing it, identity-keyed,
   * with the reply holder the round gave them (null until their round ran).
   */
  private final Map<UpdateRequest, PooledReply> leased =
      Collections.synchronizedMap(new IdentityHashMap<>());
  private volatile long version;
  private volatile LongConsumer roundListener = v -> { };
  /** Whether replies are encoded off-heap ({@link #useOffHeapReplies}). */
  private volatile boolean offHeapReplies;
  /** Average + SGD step per round (worker). */
  private final Timer applyTimer;
  /** Reading the parameters into the shared reply per round (worker). */
  private final Timer encodeTimer;
  /** The NaN/Inf scan per request (event loop or shared worker pool). */
  private final Timer finiteTimer;
  /** Adding one arrival's gradient to the round's running sum (worker). */
  private final Timer accumulateTimer;
  /** Whether gradients are summed as they arrive ({@link #ACCUMULATE_FROM_PARAMETERS}). */
  private final boolean accumulating;

  private ParameterServer(PsConfig config, Context context, ParameterStore store,
      ModelReply initial, WorkerExecutor worker, CheckpointWriter checkpointer, RoundLog roundLog,
      MeterRegistry registry) {
    this.roundLog = roundLog;
    this.config = config;
    this.context = context;
    this.store = store;
    this.worker = worker;
    this.checkpointer = checkpointer;
    this.size = store.size();
    this.shape = new long[] {size};
    this.latest = initial;
    // Three models' worth: the latest, the one before (writes may still be draining) and one spare.
    this.replyPool = new BufferPool(3L * 4 * store.size());
    this.version = initial.getModelVersion();
    RoundConfig rc = RoundConfig.of("update", "ps", config.trainers());
    if (config.maxWait() != null) {
      rc = rc.withMaxWait(config.maxWait(),
          config.runPartial() ? PartialPolicy.RUN_PARTIAL : PartialPolicy.FAIL);
    }
    this.accumulating = store.canAccumulate() && size >= ACCUMULATE_FROM_PARAMETERS;
    // The round's batches run on this server's worker: the thread that made the store (a GPU
    // context is bound to it) and that checkpoints and closes it.
    this.round = Round.builder(context, rc, this::runRound)
        .worker(worker)
        .arrivalListener(accumulating ? this::accumulate : null)
        .validator(this::checkVersion)
        .knownParticipants(config.participants().isEmpty() ? Set.of() : config.participants())
        .meterRegistry(registry)
        .build();
    MeterRegistry meters = registry == null ? new SimpleMeterRegistry() : registry;
    this.applyTimer = Timer.builder("ps.round.apply")
        .description("Average of the round's gradients and the SGD step, on the round's worker")
        .register(meters);
    this.encodeTimer = Timer.builder("ps.round.encode")
        .description("Copying the new parameters into the reply shared by the round's trainers")
        .register(meters);
    this.finiteTimer = Timer.builder("ps.finite.check")
        .description("The NaN/Inf scan of one request's gradients")
        .register(meters);
    this.accumulateTimer = Timer.builder("ps.round.accumulate")
        .description("Adding one arrival's gradient to the round's running sum, on the round's worker "
            + "before the step (large models on the CPU)")
        .register(meters);
  }

  /**
   * Creates the server on the current event-loop context: selects the backend and initialises the
   * model on the round's worker thread (off the event loop: a 94 MB model takes a while). With
   * {@code --checkpoint-dir} the model, its optimizer state and its version come from the newest
   * intact checkpoint there, if any; the first reply carries the restored version.
   */
  public static Future<ParameterServer> create(Context context, PsConfig config, MeterRegistry registry) {
    // Pool size 1: one thread makes the store, runs every round's step and writes the checkpoints.
    WorkerExecutor worker = context.owner().createSharedWorkerExecutor(WORKER_NAME, 1, 10, TimeUnit.MINUTES);
    return worker.executeBlocking(() -> {
      CheckpointWriter checkpointer = CheckpointWriter.open(config, registry);
      Backend backend = null;
      RoundLog roundLog = null;
      try {
        roundLog = config.roundLog() == null ? null : RoundLog.open(config.roundLog());
        ParameterStore.State restored = checkpointer.restore();
        float[] initial = restored != null ? restored.parameters() : config.model().initialParameters(config.seed());
        backend = Backends.select(config.device());
        ParameterStore store = new ParameterStore(backend, initial, config.trainers(), config.lr(),
            config.momentum());
        if (restored != null) {
          store.restore(restored);
        }
        checkpointer.initial(store);
        return new Init(store, encode(store, store.version(), 0, config.model().layout().id()), checkpointer,
            roundLog);
      } catch (Exception e) {
        checkpointer.close();
        if (roundLog != null) {
          roundLog.close();
        }
        if (backend != null) {
          backend.close();
        }
        throw e;
      }
    }).map(init -> new ParameterServer(config, context, init.store, init.reply, worker, init.checkpointer,
            init.roundLog, registry))
        .onFailure(e -> worker.close());
  }

  private record Init(ParameterStore store, ModelReply reply, CheckpointWriter checkpointer, RoundLog roundLog) {
  }

  /** The settings. */
  public PsConfig config() {
    return config;
  }

  /** The backend's name (e.g. "cpu (OpenBLAS)"). */
  public String backendName() {
    return store.backend().name();
  }

  /**
   * The checkpoint settings and what was restored at start, in one phrase (for the start line),
   * e.g. "checkpoints in /data every 50 rounds (restored version 1200 from ps-000000001200.ckpt in
   * 3.1 ms)" or "no checkpoints".
   */
  public String checkpointStatus() {
    return checkpointer.describe();
  }

  /**
   * What is wrong with durability now (checkpoints failing, the loss bound not held), or null
   * while all is well or without {@code --checkpoint-dir}; for {@code /health/ready}. Any thread.
   */
  public String checkpointDegradation() {
    return checkpointer.degradation();
  }

  /** Model versions not yet in a durable checkpoint (0 without {@code --checkpoint-dir}). Any thread. */
  public long checkpointLag() {
    return checkpointer.lag();
  }

  /** The model version restored from a checkpoint at start, or -1 when none was. */
  public long restoredVersion() {
    return checkpointer.restoredVersion();
  }

  /** The current model version (number of steps taken). */
  public long version() {
    return version;
  }

  /** Called on the worker after each round's step with the new version (for benchmarks). */
  public void onRound(LongConsumer listener) {
    this.roundListener = listener == null ? v -> { } : listener;
  }

  /**
   * The model's layout: its named tensors in flat-vector order, and its id (the one every
   * {@code ModelReply} carries). A checkpoint keeps it, so a restarted server answers the same.
   *
   * @return the layout, at once
   */
  public dev.batchrpc.proto.v1.ModelLayout layout() {
    dev.batchrpc.ps.model.TensorLayout layout = config.model().layout();
    return dev.batchrpc.proto.v1.ModelLayout.newBuilder().addAllTensors(layout.toProto())
        .setLayoutId(layout.id()).setParameterCount(layout.parameterCount()).build();
  }

  /**
   * The current model. In registration mode (no {@code --participants}) a request with a valid
   * participant id registers that trainer, which may then send updates. A trainer that had left
   * (see {@link #leave}) is back from the next round once it fetches the model again.
   */
  public Future<ModelReply> getModel(GetModelRequest request) {
    return registerForModel(request).map(v -> latestEscaped());
  }

  /** What a model request does besides answering: (re)registers a named trainer. */
  private Future<Void> registerForModel(GetModelRequest request) {
    String id = request.getParticipantId();
    if (id.isEmpty()) {
      return Future.succeededFuture();
    }
    if (!Addresses.isValidId(id)) {
      return Future.failedFuture(invalidId(id));
    }
    if (!config.participants().isEmpty()) {
      if (!config.participants().contains(id)) {
        return Future.failedFuture(new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "participant '"
            + id + "' is not one of --participants " + config.participants()));
      }
      return round.rejoin(id).mapEmpty();
    }
    return registerOnOwner(id).compose(v -> round.rejoin(id)).mapEmpty();
  }

  /**
   * Removes a trainer from the rounds (it said it is done, or its node left the cluster): the open
   * round stops waiting for it and later rounds do not count it, until it fetches the model again.
   *
   * @return the number of trainers the next round waits for; {@code BAD_REQUEST} for an invalid id
   */
  public Future<Integer> leave(String id) {
    if (!Addresses.isValidId(id)) {
      return Future.failedFuture(invalidId(id));
    }
    return round.leave(id);
  }

  /** The refusal of a participant id that is not 1-128 characters from [A-Za-z0-9_.-]. */
  private static RpcException invalidId(String id) {
    return new RpcException(FailureCode.BAD_REQUEST, "invalid participant_id '" + id
        + "': 1-128 characters from [A-Za-z0-9_.-]");
  }

  /** The number of trainers the next round waits for (the round size less departed trainers). */
  public Future<Integer> expectedTrainers() {
    return round.expected();
  }

  /** The number of gradients waiting in the open round (0 when none is open). */
  public Future<Integer> openArrivals() {
    return round.openArrivals();
  }

  private Future<Void> registerOnOwner(String id) {
    // The registered set is owner-confined: hop there (inline when already on it).
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    context.runOnContext(v -> {
      if (registered.add(id)) {
        round.setKnownParticipants(List.copyOf(registered)).onComplete(done);
      } else {
        done.complete();
      }
    });
    return done.future();
  }

  /**
   * Joins the current round with one trainer's gradients.
   *
   * @return the model the round produced, or a failed future with an {@link RpcException}
   */
  public Future<ModelReply> updateAndFetch(UpdateRequest request) {
    return updateAndFetch(request, null, null);
  }

  /**
   * {@link #updateAndFetch(UpdateRequest)} for a caller that may give up: once {@code cancelled}
   * completes, the gradient leaves the open round if that round has not closed (it is not applied
   * and the trainer's resend is accepted, see {@link Round#withdraw}); once it has closed, it
   * counts as usual. A request cancelled before it reached the round never joins it.
   *
   * @param cancelled completes when the caller gave up (a gRPC cancellation or deadline, a closed
   *     data-channel connection, an event-bus requester's timeout); null for never
   * @param why how the caller gave up, for logs and the failure's text
   */
  public Future<ModelReply> updateAndFetch(UpdateRequest request, Future<?> cancelled, String why) {
    String id = request.getParticipantId();
    if (!Addresses.isValidId(id)) {
      return Future.failedFuture(invalidId(id));
    }
    if (!request.hasGradients()) {
      return Future.failedFuture(new RpcException(FailureCode.SHAPE_MISMATCH, "participant '" + id
          + "': gradients are missing (expected shape [" + size + "])"));
    }
    try {
      Tensors.requireShape("gradients of '" + id + "'", request.getGradients(), shape);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(new RpcException(FailureCode.SHAPE_MISMATCH, e.getMessage()
          + " (the model has " + size + " parameters)"));
    }
    // Cheap refusal first; the validator repeats it at arrival, when it is authoritative.
    try {
      checkVersion(id, request);
    } catch (RpcException e) {
      return Future.failedFuture(e);
    }
    if (size <= INLINE_FINITE_CHECK_LIMIT) {
      try {
        requireFinite(id, request.getGradients());
      } catch (RpcException e) {
        return Future.failedFuture(e);
      }
      return submit(id, request, cancelled, why);
    }
    // A large gradient is scanned on the shared worker pool (unordered: trainers' scans run in
    // parallel), never on the event loop nor on the round's batch thread.
    return context.owner().<Void>executeBlocking(() -> {
      requireFinite(id, request.getGradients());
      return null;
    }, false).compose(v -> submit(id, request, cancelled, why));
  }

  /** Joins the round, unless the caller gave up already; leaves it if the caller gives up while it is open. */
  private Future<ModelReply> submit(String id, UpdateRequest request, Future<?> cancelled, String why) {
    if (cancelled == null) {
      return round.submit(id, request);
    }
    if (cancelled.isComplete()) {
      return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "the update of '" + id
          + "' was not taken: " + why));
    }
    Future<ModelReply> answer = round.submit(id, request);
    cancelled.onComplete(x -> {
      if (!answer.isComplete()) {
        round.withdraw(id, request, why).onSuccess(left -> LOG.log(System.Logger.Level.DEBUG, () -> left
            ? "ps: the update of '" + id + "' left the open round (" + why + "); not applied"
            : "ps: the update of '" + id + "' stays in its closed round although " + why));
      }
    });
    return answer;
  }

  private void requireFinite(String id, Tensor gradients) {
    ByteBuffer bytes = gradients.getData().asReadOnlyByteBuffer();
    long t0 = System.nanoTime();
    int bad = FiniteCheck.firstNonFinite(bytes);
    finiteTimer.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    if (bad >= 0) {
      float value = bytes.order(ByteOrder.LITTLE_ENDIAN).getFloat(bytes.position() + 4 * bad);
      throw new RpcException(FailureCode.NON_FINITE, "gradients of '" + id + "' hold " + value
          + " at index " + bad + ": all gradients must be finite");
    }
  }

  private void checkVersion(String id, UpdateRequest request) {
    long current = version;
    long v = request.getModelVersion();
    if (v != current) {
      throw new RpcException(v < current ? FailureCode.STALE_VERSION : FailureCode.FUTURE_VERSION,
          "participant '" + id + "' sent gradients for " + (v < current ? "stale" : "future")
          + " model version " + v + ", the server is at version " + current
          + " (synchronous SGD: fetch the model again and recompute)")
          .withDetail("request_version", v).withDetail("server_version", current);
    }
  }

  /**
   * Runs on the round's worker thread: average + SGD straight from the requests' bytes (one fused
   * pass on the CPU, staged uploads on a GPU), then the reply encoded once.
   */
  private BatchResult<ModelReply> runRound(RoundBatch<UpdateRequest> batch) {
    List<Arrival<UpdateRequest>> arrivals = batch.arrivals();
    long t0 = System.nanoTime();
    long v;
    if (accumulating && store.accumulated(batch.round(), arrivals.size())) {
      v = store.stepAccumulated(batch.round(), arrivals.size());
    } else {
      FloatBuffer[] rows = new FloatBuffer[arrivals.size()];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = Tensors.asFloatBuffer(arrivals.get(i).request().getGradients());
      }
      v = store.step(rows);
    }
    long t1 = System.nanoTime();
    ModelReply reply;
    PooledReply holder = null;
    if (offHeapReplies) {
      List<UpdateRequest> lent = new ArrayList<>(arrivals.size());
      for (Arrival<UpdateRequest> a : arrivals) {
        if (leased.containsKey(a.request())) {
          lent.add(a.request());
        }
      }
      ByteBuffer bytes = replyPool.lease(4 * size);
      reply = encodeInto(store, v, arrivals.size(), config.model().layout().id(), bytes);
      // One reference for "latest", one per data-channel caller of this round, taken before any
      // caller is answered; any other caller (event bus, gRPC) may keep the reply: escaped.
      holder = new PooledReply(reply, bytes, replyPool, 1 + lent.size());
      if (lent.size() < arrivals.size()) {
        holder.escape();
      }
      for (UpdateRequest q : lent) {
        leased.put(q, holder);
      }
    } else {
      reply = encode(store, v, arrivals.size(), config.model().layout().id());
    }
    applyTimer.record(t1 - t0, TimeUnit.NANOSECONDS);
    encodeTimer.record(System.nanoTime() - t1, TimeUnit.NANOSECONDS);
    // Before publishing v: may wait for the previous checkpoint's write (the loss bound).
    checkpointer.afterStep(store);
    PooledReply previous = current;
    current = holder;
    latest = reply;
    version = v;
    if (previous != null) {
      previous.release();
    }
    if (roundLog != null) {
      // Before the round's callers are answered (the Round completes them after this returns).
      List<String> ids = new ArrayList<>(arrivals.size());
      for (Arrival<UpdateRequest> a : arrivals) {
        ids.add(a.participantId());
      }
      roundLog.record(v, ids);
    }
    roundListener.accept(v);
    return BatchResult.shared(reply);
  }

  /** The arrival listener: the gradient joins the round's running sum (worker thread). */
  private void accumulate(long roundId, int slot, UpdateRequest request) {
    long t0 = System.nanoTime();
    store.accumulate(roundId, slot, Tensors.asFloatBuffer(request.getGradients()));
    accumulateTimer.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
  }

  /**
   * Replies go off-heap from now on: the data channel then writes a round's one copy to every
   * trainer without copying it again (a heap buffer is copied into direct ones per socket: for 5
   * trainers of the 0.8 MB MLP that measured slower than the off-heap allocation, 69.7 vs 93.0
   * rounds/s). Without a data channel (one process: the event bus passes the reply by reference)
   * they stay on the heap, where a large allocation costs less (no direct-memory reservation, which
   * waits for a garbage collection when the direct-memory limit is near).
   */
  void useOffHeapReplies() {
    offHeapReplies = true;
  }

  /**
   * A reply lent to a transport that gives it back ({@link #release()}) once it has written it,
   * so its pooled buffer can serve a later round; {@code holder} is null for an unpooled reply.
   */
  record Lease(ModelReply reply, PooledReply holder) {
    /** The transport is done with the reply's bytes. */
    void release() {
      if (holder != null) {
        holder.release();
      }
    }
  }

  /** The latest model for a transport that cannot give it back: its buffer is never reused. */
  private ModelReply latestEscaped() {
    Lease lease = latestLeased();
    if (lease.holder() != null) {
      lease.holder().escape();
      lease.release();
    }
    return lease.reply();
  }

  /** The latest model, lent ({@link Lease#release()} once written). */
  private Lease latestLeased() {
    while (true) {
      PooledReply h = current;
      if (h == null) {
        return new Lease(latest, null);
      }
      if (h.retain()) {
        return new Lease(h.reply(), h);
      }
      // Released meanwhile: a newer reply is current by now.
    }
  }

  /** The pool of off-heap reply buffers (for tests). */
  BufferPool replyPool() {
    return replyPool;
  }

  /** {@link #getModel} for the data channel: the reply is lent, to be released once written. */
  Future<Lease> getModelLeased(GetModelRequest request) {
    return registerForModel(request).map(v -> latestLeased());
  }

  /**
   * {@link #updateAndFetch} for the data channel: the round's reply is lent to this caller (its
   * reference taken by the round itself, before any caller is answered), to be released once
   * written.
   */
  Future<Lease> updateAndFetchLeased(UpdateRequest request, Future<Void> callerGone) {
    leased.put(request, null);
    return updateAndFetch(request, callerGone, "its data-channel connection closed").transform(ar -> {
      PooledReply h = leased.remove(request);
      if (ar.failed()) {
        if (h != null) {
          h.release();
        }
        return Future.failedFuture(ar.cause());
      }
      return Future.succeededFuture(new Lease(ar.result(), h));
    });
  }

  /**
   * Reads the parameters once into fresh heap bytes that the reply wraps without a copy (without a
   * data channel; with one, replies go to pooled off-heap buffers). Worker only.
   */
  private static ModelReply encode(ParameterStore store, long v, int roundSize, String layoutId) {
    ByteBuffer bytes = ByteBuffer.allocate(4 * store.size()).order(ByteOrder.LITTLE_ENDIAN);
    return encodeInto(store, v, roundSize, layoutId, bytes);
  }

  /** Reads the parameters into {@code bytes} (exactly 4 bytes each) and wraps them in a reply. */
  private static ModelReply encodeInto(ParameterStore store, long v, int roundSize, String layoutId,
      ByteBuffer bytes) {
    int size = store.size();
    store.readParameters(bytes.asFloatBuffer());
    Tensor params = Tensor.newBuilder().addShape(size).setData(UnsafeByteOperations.unsafeWrap(bytes)).build();
    return ModelReply.newBuilder().setModelVersion(v).setParameters(params).setRoundSize(roundSize)
        .setLayoutId(layoutId).build();
  }

  /**
   * Writes the current model to a safetensors file ({@code --export}): its layout, its values, and
   * {@code model_version} and {@code layout_id} in the metadata. Worker only.
   */
  private void exportModel(java.nio.file.Path file) throws java.io.IOException {
    dev.batchrpc.ps.model.TensorLayout layout = config.model().layout();
    dev.batchrpc.ps.model.Safetensors.write(file, layout, java.nio.FloatBuffer.wrap(store.parameters()),
        java.util.Map.of("model_version", Long.toString(store.version()), "layout_id", layout.id()));
    System.getLogger(ParameterServer.class.getName()).log(System.Logger.Level.INFO,
        "ps: exported model v" + store.version() + " (" + layout + ") to " + file);
  }

  /** A host copy of the parameters, read on the worker. */
  public Future<float[]> parameters() {
    return worker.executeBlocking(store::parameters);
  }

  /**
   * Closes the round (failing waiting callers with UNAVAILABLE), writes a final checkpoint (with
   * {@code --checkpoint-dir}, unless the newest one is current), then frees the model.
   */
  public Future<Void> close() {
    return round.close()
        .compose(v -> worker.executeBlocking(() -> {
          try {
            checkpointer.finish(store);
            if (config.exportTo() != null) {
              exportModel(config.exportTo());
            }
          } finally {
            store.close();
            store.backend().close();
          }
          return null;
        }))
        .eventually(() -> {
          checkpointer.close();
          if (roundLog != null) {
            roundLog.close();
          }
          return worker.close();
        })
        .mapEmpty();
  }
}
