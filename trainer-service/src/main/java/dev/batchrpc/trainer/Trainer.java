package dev.batchrpc.trainer;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One trainer: fetches the model, then for each batch computes the gradient (off the event loop),
 * joins the server's round with update-and-fetch, and applies the model the round produced.
 *
 * <p>Synchronous SGD: a refusal with {@code STALE_VERSION} (the trainer missed a round, e.g. a
 * partial round ran without it) or {@code FUTURE_VERSION} (the server went back to an older
 * checkpoint) makes it fetch the model again and recompute, at most
 * {@value #MAX_STALE_RETRIES} times in a row. If the fetched version is older than the one it held,
 * the server was restored from a checkpoint meanwhile: its rounds since then are redone (below).
 *
 * <p>Outages ({@code --retry-timeout-s} above 0): when the server is gone or was restarted, the
 * trainer retries with capped exponential backoff ({@value #FIRST_BACKOFF_MS} ms doubling to
 * {@value #MAX_BACKOFF_MS} ms, with jitter) for up to the retry timeout. Each retry fetches the model
 * again with the trainer's id (which registers it with a fresh server) and recomputes the gradient
 * at that model, then the loop goes on. Its rounds follow the model's version: every step of a
 * full round holds one gradient of each trainer, so a server restored to an older version takes
 * back this trainer's rounds since then (they are redone, counted in
 * {@link Summary#roundsRedone()}), and a server that took a step whose reply was lost gives that
 * round. All trainers of a run therefore agree on where they are, and the final model holds
 * exactly {@code batches} rounds of each (with partial rounds, {@code --max-wait-ms}, the count
 * during an outage is approximate: a partial round is counted for the trainers it missed). What
 * counts as an outage: {@code UNAVAILABLE} (no handler, a reply timeout, a closing server),
 * {@code UNKNOWN_PARTICIPANT} on an update (a fresh server in registration mode does not know the
 * trainer yet), {@code STALE_VERSION} or {@code FUTURE_VERSION} beyond the immediate retries (a
 * server restored an older or newer checkpoint). The outage and the recovery are logged on one line
 * each. Any other failure ({@code BAD_REQUEST}, {@code SHAPE_MISMATCH}, {@code NON_FINITE}, ...)
 * ends the run with that failure, as does an outage longer than the retry timeout.
 *
 * <p>{@code DUPLICATE} ends the run (exit 1): a request of this trainer that its caller gave up on
 * leaves the server's open round at its timeout (a gRPC deadline, the event-bus timeout header, a
 * data-channel connection closed on a timeout), so a request under this id in the open round is
 * another process's: a second trainer started with this one's {@code --id}. Riding it out as an
 * outage once let such a trainer report rounds it never took part in.
 *
 * <p>Threads: {@link #run()} runs the whole loop on one context of its own; the task is called on
 * worker threads, one call at a time, ordered by the chain of futures.
 *
 * <p>Length: over 350 lines on purpose. The round loop, its retries and its outage recovery share
 * one state machine (the held version, the rounds redone); kept together so the rules above can be
 * checked against one piece of code.
 */
public final class Trainer {

  /** Consecutive stale refusals tolerated before giving up. */
  public static final int MAX_STALE_RETRIES = 3;
  /** The first wait before retrying after a failure. */
  public static final long FIRST_BACKOFF_MS = 200;
  /** The longest wait between retries. */
  public static final long MAX_BACKOFF_MS = 2000;

  private static final System.Logger LOG = System.getLogger(Trainer.class.getName());
  /** Failures of an update that mean the server is gone, restarted or has moved on. */
  private static final Set<FailureCode> OUTAGE = EnumSet.of(FailureCode.UNAVAILABLE,
      FailureCode.UNKNOWN_PARTICIPANT, FailureCode.STALE_VERSION, FailureCode.FUTURE_VERSION);

  /** One completed round, as seen by this trainer; {@code loss} is NaN for a task without one (replay). */
  public record Progress(String trainerId, int round, int batches, float loss, long modelVersion,
      double roundsPerSecond) {
    /** " loss 0.12345", or nothing for a task without a loss. */
    public String lossText() {
      return Float.isNaN(loss) ? "" : String.format(Locale.ROOT, " loss %.5f", loss);
    }
  }

  /**
   * The outcome of a run.
   *
   * @param firstLoss the loss of the first batch (NaN for replay)
   * @param lastLoss the loss of the last batch
   * @param startNanos when the first update was sent ({@link System#nanoTime()})
   * @param endNanos when the last round's model arrived
   * @param computeNanos total time in the task's step (forward + backward + encoding the gradient)
   * @param updateNanos total time from sending update-and-fetch to its reply (transport + waiting
   *     for the other trainers + the server's step)
   * @param loadNanos total time applying the replies' models
   * @param outages how many times the server was lost and found again
   * @param outageRetries the retries during those outages
   * @param outageNanos the time without a completed round in those outages: from the last round
   *     before each (or the start) to the first round after it
   * @param roundsRedone rounds done again because a restarted server had lost their updates
   */
  public record Summary(String trainerId, int rounds, float firstLoss, float lastLoss, long finalVersion,
      int staleRetries, long startNanos, long endNanos, long computeNanos, long updateNanos,
      long loadNanos, int outages, int outageRetries, long outageNanos, int roundsRedone) {

    /** A phase's mean per round in milliseconds, e.g. {@code msPerRound(computeNanos())}. */
    public double msPerRound(long nanos) {
      return rounds > 0 ? nanos / 1e6 / rounds : 0;
    }

    /** Rounds per second from the first update to the last reply. */
    public double roundsPerSecond() {
      return endNanos > startNanos ? rounds * 1e9 / (endNanos - startNanos) : 0;
    }

    /** ", loss 0.14596 -> 0.11298", or nothing for a task without a loss (replay). */
    public String lossText() {
      return Float.isNaN(firstLoss) && Float.isNaN(lastLoss) ? ""
          : String.format(Locale.ROOT, ", loss %.5f -> %.5f", firstLoss, lastLoss);
    }
  }

  private final Vertx vertx;
  private final PsClient client;
  private final String id;
  private final GradientTask task;
  private final int batches;
  private final Consumer<Progress> progress;
  private final long retryTimeoutNanos;

  /** Completed once, with the summary or the run's failure. */
  private final Promise<Summary> done = Promise.promise();
  /** The context the run's rounds follow each other on. */
  private Context context;

  // ---- confined to the run's chain of futures ----
  private float firstLoss = Float.NaN;
  private float lastLoss = Float.NaN;
  private int stale;
  private long startNanos;
  private long computeNanos;
  private long updateNanos;
  private long loadNanos;
  /** The version of the model the task holds (the last fetch or reply), -1 before the first. */
  private long heldVersion = -1;
  /** When the last round completed (or the run started): where an outage's quiet time begins. */
  private long lastRoundNanos;
  /** The outage in progress, or null. */
  private Outage outage;
  private int outages;
  private int outageRetries;
  private long outageNanos;
  private int roundsRedone;

  /**
   * An outage in progress: when its first failure came (the retry timeout counts from there), the
   * last round before it, the version held then and now, the rounds redone and the retries.
   */
  private static final class Outage {
    final long startNanos;
    final long quietSinceNanos;
    final long heldAtStart;
    long held;
    int redone;
    int retries;

    Outage(long startNanos, long quietSinceNanos, long held) {
      this.startNanos = startNanos;
      this.quietSinceNanos = quietSinceNanos;
      this.heldAtStart = held;
      this.held = held;
    }
  }

  /**
   * @param id the trainer's id ([A-Za-z0-9_.-]+)
   * @param batches how many rounds to take part in, at least 1
   * @param progress called on the trainer's context after each round; may be null
   */
  public Trainer(Vertx vertx, PsClient client, String id, GradientTask task, int batches,
      Consumer<Progress> progress) {
    this(vertx, client, id, task, batches, progress, Duration.ZERO);
  }

  /**
   * @param id the trainer's id ([A-Za-z0-9_.-]+)
   * @param batches how many rounds to take part in, at least 1
   * @param progress called on the trainer's context after each round; may be null
   * @param retryTimeout how long one outage of the server may last before the run fails; zero
   *     for none (the first outage ends the run)
   */
  public Trainer(Vertx vertx, PsClient client, String id, GradientTask task, int batches,
      Consumer<Progress> progress, Duration retryTimeout) {
    dev.batchrpc.proto.Addresses.requireValidId(id);
    if (batches < 1) {
      throw new IllegalArgumentException("--batches must be at least 1, got " + batches);
    }
    if (retryTimeout == null || retryTimeout.isNegative()) {
      throw new IllegalArgumentException("--retry-timeout-s must be >= 0, got " + retryTimeout);
    }
    this.retryTimeoutNanos = retryTimeout.toNanos();
    this.vertx = vertx;
    this.client = client;
    this.id = id;
    this.task = task;
    this.batches = batches;
    this.progress = progress == null ? p -> { } : progress;
  }

  /** The trainer's id. */
  public String id() {
    return id;
  }

  /** Runs the loop on a new context; completes with the summary, or the first unrecoverable failure. */
  public Future<Summary> run() {
    Context ctx = vertx.getOrCreateContext();
    if (Vertx.currentContext() == ctx) {
      ctx = VertxInternals.newEventLoopContext(vertx);
    }
    context = ctx;
    ctx.runOnContext(v -> {
      lastRoundNanos = System.nanoTime();
      fetchAndLoop(0);
    });
    return done.future();
  }

  /** One task step, timed; on a worker thread, ordered by the chain like every task call. */
  private GradientTask.Step timedStep() {
    long t0 = System.nanoTime();
    GradientTask.Step step = task.step();
    computeNanos += System.nanoTime() - t0;
    return step;
  }

  private Future<ModelReply> fetch() {
    Future<ModelReply> call = client.getModel(id);
    if (outage != null) {
      // retried: an attempt may not outlast the outage's deadline (Attempts)
      long left = TimeUnit.NANOSECONDS.toMillis(outage.startNanos + retryTimeoutNanos - System.nanoTime());
      call = Attempts.within(vertx, call, Math.min(Attempts.MAX_ATTEMPT_MS, left), "fetching the model",
          client::release, client::abandon);
    }
    return call.compose(m -> vertx.executeBlocking(() -> {
      try {
        task.load(m);
      } finally {
        client.release(m);
      }
      return m;
    })).onSuccess(m -> heldVersion = m.getModelVersion());
  }

  /** Fetches the model (registering the trainer) and goes on with {@code round}, rebased in an outage. */
  private void fetchAndLoop(int round) {
    fetch().onComplete(ar -> {
      if (ar.failed()) {
        retryOrFail(RpcException.of(ar.cause()), round, true);
        return;
      }
      long v = ar.result().getModelVersion();
      next(v, outage == null ? round : rebase(round, v), null);
    });
  }

  /**
   * Goes on with {@code round} as a new task on the trainer's context. Rounds follow each other as
   * tasks, not as a chain of futures each completed by the next: a run of any length keeps a flat
   * stack and holds no finished round (a chain of 4,000 nested futures overflowed the stack when
   * the last one completed them all).
   */
  private void next(long modelVersion, int round, GradientTask.Step prepared) {
    context.runOnContext(v -> loop(modelVersion, round, prepared));
  }

  /**
   * In an outage, the round to go on with at the server's {@code version}: versions the server lost
   * (restored from a checkpoint) are rounds to redo. Versions it gained meanwhile are never counted
   * as this trainer's rounds: the others go on without a trainer in an outage (it left the rounds),
   * so those steps need not hold its gradient, and only an answer proves one did (bench chaos caught
   * a trainer that said "done: 2000 rounds" after 1,628, counting 372 steps of the others). A round
   * whose answer was lost is done again.
   */
  private int rebase(int round, long version) {
    long delta = outage.held < 0 ? 0 : Math.min(0, version - outage.held);
    outage.held = version;
    int next = (int) Math.max(0, Math.min(batches, round + delta));
    if (next < round) {
      outage.redone += round - next;
      roundsRedone += round - next;
    }
    return next;
  }

  /**
   * Outside an outage, a stale refusal followed by a fetch of an older version than the trainer
   * held: the server was restored from a checkpoint between two of this trainer's requests (its
   * peers may be in an outage of their own). Its rounds since that version are redone, as in
   * {@link #rebase}; a newer version (a partial round ran without it) changes no count.
   */
  private int rollBack(int round, long held, long version) {
    if (version >= held) {
      return round;
    }
    int next = (int) Math.max(0, round - (held - version));
    roundsRedone += round - next;
    LOG.log(System.Logger.Level.WARNING, String.format(Locale.ROOT,
        "trainer %s: the parameter server went back from model version %d to %d (restored from a "
            + "checkpoint): redoing %d round(s) from round %d/%d", id, held, version, round - next, next + 1,
        batches));
    return next;
  }

  /**
   * One round: the gradient at {@code modelVersion} ({@code prepared}, or computed now), the
   * update, then on one worker task the reply's model loaded and the next round's gradient
   * computed (one hand-off to a worker per round, not two).
   */
  private void loop(long modelVersion, int round, GradientTask.Step prepared) {
    if (round == batches) {
      long end = System.nanoTime();
      // Done: leave the server's rounds, so peers still redoing rounds never wait for this one.
      // Best effort: a server that is gone has no rounds to leave.
      client.leave(id).onComplete(left -> done.tryComplete(new Summary(id, batches, firstLoss, lastLoss,
          modelVersion, stale, startNanos, end, computeNanos, updateNanos, loadNanos, outages, outageRetries,
          outageNanos, roundsRedone)));
      return;
    }
    Future<GradientTask.Step> step = prepared != null ? Future.succeededFuture(prepared)
        : vertx.executeBlocking(this::timedStep);
    step.compose(st -> {
      if (round == 0 && startNanos == 0) {
        startNanos = System.nanoTime();
        firstLoss = st.loss();
      }
      lastLoss = st.loss();
      UpdateRequest q = UpdateRequest.newBuilder().setParticipantId(id)
          .setModelVersion(modelVersion).setGradients(st.gradients()).build();
      long sent = System.nanoTime();
      return client.updateAndFetch(q).onSuccess(r -> updateNanos += System.nanoTime() - sent)
          .map(r -> new Replied(st, r));
    }).compose(replied -> vertx.executeBlocking(() -> {
      ModelReply reply = replied.reply();
      // The server answered: the round that took the gradients is over and nothing reads them
      // any more, so the task may write the next ones into the same buffer.
      task.recycle(replied.step());
      long t0 = System.nanoTime();
      try {
        task.load(reply);
      } finally {
        // Only the reply's version is read from here on: its parameters' buffer may be reused.
        client.release(reply);
      }
      loadNanos += System.nanoTime() - t0;
      return new Answered(reply.getModelVersion(), round + 1 < batches ? timedStep() : null);
    })).onComplete(ar -> {
      if (ar.succeeded()) {
        stale = 0;
        long version = ar.result().version;
        if (outage != null) {
          recovered(round, version);
        }
        lastRoundNanos = System.nanoTime();
        heldVersion = version;
        double secs = (System.nanoTime() - startNanos) / 1e9;
        progress.accept(new Progress(id, round + 1, batches, lastLoss, version,
            secs > 0 ? (round + 1) / secs : 0));
        next(version, round + 1, ar.result().nextStep);
        return;
      }
      RpcException e = RpcException.of(ar.cause());
      boolean versionMoved = e.code() == FailureCode.STALE_VERSION || e.code() == FailureCode.FUTURE_VERSION;
      if (versionMoved && stale < MAX_STALE_RETRIES && outage == null) {
        stale++;
        fetch().onComplete(f -> {
          if (f.failed()) {
            retryOrFail(RpcException.of(f.cause()), round, true);
          } else {
            long v = f.result().getModelVersion();
            next(v, rollBack(round, modelVersion, v), null);
          }
        });
        return;
      }
      retryOrFail(e, round, false);
    });
  }

  /** An update and its reply. */
  private record Replied(GradientTask.Step step, ModelReply reply) {
  }

  /** A round's reply, loaded: its model version, and the next round's gradient (null after the last). */
  private record Answered(long version, GradientTask.Step nextStep) {
  }

  /**
   * After a failed fetch or update: waits and retries if it is an outage within the retry
   * timeout, else fails the run. A failed fetch is an outage only when the server is unreachable
   * ({@code UNAVAILABLE}): any other refusal of a fetch (an id not in {@code --participants}, a
   * model of another shape) will not go away by itself.
   */
  private void retryOrFail(RpcException e, int round, boolean fetching) {
    boolean isOutage = fetching ? e.code() == FailureCode.UNAVAILABLE : OUTAGE.contains(e.code());
    long now = System.nanoTime();
    if (!isOutage || retryTimeoutNanos == 0) {
      String hint = e.code() == FailureCode.DUPLICATE ? " (another trainer runs with --id " + id
          + ": ids must be unique; this run took part in " + round + " round(s))" : "";
      done.tryFail(new RpcException(e.code(), "trainer '" + id + "' round " + (round + 1)
          + ": " + e.getMessage() + hint, e));
      return;
    }
    if (outage == null) {
      outage = new Outage(now, lastRoundNanos, heldVersion);
      outages++;
      LOG.log(System.Logger.Level.WARNING, String.format(Locale.ROOT,
          "trainer %s: parameter server lost in round %d/%d, %.1f s after the last round (%s: %s); "
              + "retrying for up to %d s", id, round + 1, batches, (now - lastRoundNanos) / 1e9, e.code(),
          e.getMessage(), TimeUnit.NANOSECONDS.toSeconds(retryTimeoutNanos)));
    }
    long left = outage.startNanos + retryTimeoutNanos - now;
    if (left <= 0) {
      done.tryFail(new RpcException(e.code(), String.format(Locale.ROOT,
          "trainer '%s' round %d: the parameter server did not come back within --retry-timeout-s %d "
              + "(%d retries; last failure %s: %s)", id, round + 1,
          TimeUnit.NANOSECONDS.toSeconds(retryTimeoutNanos), outage.retries, e.code(), e.getMessage()), e));
      return;
    }
    long backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS << Math.min(outage.retries, 20));
    long delay = Math.min(TimeUnit.NANOSECONDS.toMillis(left) + 1,
        (long) (backoff * ThreadLocalRandom.current().nextDouble(0.8, 1.2)));
    outage.retries++;
    outageRetries++;
    vertx.setTimer(Math.max(1, delay), t -> fetchAndLoop(round));
  }

  /** The first completed round after an outage: one line saying how long it took. */
  private void recovered(int round, long version) {
    long now = System.nanoTime();
    long quiet = now - outage.quietSinceNanos;
    outageNanos += quiet;
    // The round's step was taken from version - 1: the model the server came back with.
    long resumedFrom = version - 1;
    LOG.log(System.Logger.Level.INFO, String.format(Locale.ROOT,
        "trainer %s: parameter server back, %.1f s without a round (%.1f s and %d retries after the "
            + "failure): resumed from model version %d, this trainer had version %d (%d updates lost, "
            + "%d of its rounds redone); round %d/%d done at version %d", id, quiet / 1e9,
        (now - outage.startNanos) / 1e9, outage.retries, resumedFrom, outage.heldAtStart,
        Math.max(0, outage.heldAtStart - resumedFrom), outage.redone, round + 1, batches, version));
    outage = null;
  }
}
