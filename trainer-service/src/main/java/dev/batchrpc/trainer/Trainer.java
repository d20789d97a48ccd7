package dev.batchrpc.trainer;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.util.function.Consumer;

/**
 * One trainer: fetches the model, then for each batch computes the gradient (off the event loop),
 * joins the server's round with update-and-fetch, and applies the model the round produced.
 *
 * <p>Synchronous SGD: a refusal with {@code STALE_VERSION} (the trainer missed a round, e.g. a
 * partial round ran without it) makes it fetch the model again and recompute, at most
 * {@value #MAX_STALE_RETRIES} times in a row; any other failure ends the run with that failure.
 *
 * <p>Threads: {@link #run()} runs the whole loop on one context of its own; the task is called on
 * worker threads, one call at a time, ordered by the chain of futures.
 */
public final class Trainer {

  /** Consecutive stale refusals tolerated before giving up. */
  public static final int MAX_STALE_RETRIES = 3;

  /** One completed round, as seen by this trainer. */
  public record Progress(String trainerId, int round, int batches, float loss, long modelVersion,
      double roundsPerSecond) {
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
   */
  public record Summary(String trainerId, int rounds, float firstLoss, float lastLoss, long finalVersion,
      int staleRetries, long startNanos, long endNanos, long computeNanos, long updateNanos,
      long loadNanos) {

    /** A phase's mean per round in milliseconds, e.g. {@code msPerRound(computeNanos())}. */
    public double msPerRound(long nanos) {
      return rounds > 0 ? nanos / 1e6 / rounds : 0;
    }

    /** Rounds per second from the first update to the last reply. */
    public double roundsPerSecond() {
      return endNanos > startNanos ? rounds * 1e9 / (endNanos - startNanos) : 0;
    }
  }

  private final Vertx vertx;
  private final PsClient client;
  private final String id;
  private final GradientTask task;
  private final int batches;
  private final Consumer<Progress> progress;

  // ---- confined to the run's chain of futures ----
  private float firstLoss = Float.NaN;
  private float lastLoss = Float.NaN;
  private int stale;
  private long startNanos;
  private long computeNanos;
  private long updateNanos;
  private long loadNanos;

  /**
   * @param id the trainer's id ([A-Za-z0-9_.-]+)
   * @param batches how many rounds to take part in, at least 1
   * @param progress called on the trainer's context after each round; may be null
   */
  public Trainer(Vertx vertx, PsClient client, String id, GradientTask task, int batches,
      Consumer<Progress> progress) {
    dev.batchrpc.proto.Addresses.requireValidId(id);
    if (batches < 1) {
      throw new IllegalArgumentException("--batches must be at least 1, got " + batches);
    }
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
      ctx = ((io.vertx.core.internal.VertxInternal) vertx).createEventLoopContext();
    }
    Promise<Summary> done = Promise.promise();
    ctx.runOnContext(v -> fetch().compose(m -> loop(m, 0)).onComplete(done));
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
    return client.getModel(id).compose(m -> vertx.executeBlocking(() -> {
      task.load(m);
      return m;
    }));
  }

  private Future<Summary> loop(ModelReply model, int round) {
    if (round == batches) {
      return Future.succeededFuture(new Summary(id, batches, firstLoss, lastLoss, model.getModelVersion(),
          stale, startNanos, System.nanoTime(), computeNanos, updateNanos, loadNanos));
    }
    return vertx.executeBlocking(this::timedStep).compose(step -> {
      if (round == 0 && startNanos == 0) {
        startNanos = System.nanoTime();
        firstLoss = step.loss();
      }
      lastLoss = step.loss();
      UpdateRequest q = UpdateRequest.newBuilder().setParticipantId(id)
          .setModelVersion(model.getModelVersion()).setGradients(step.gradients()).build();
      long sent = System.nanoTime();
      return client.updateAndFetch(q).onSuccess(r -> updateNanos += System.nanoTime() - sent);
    }).compose(reply -> vertx.executeBlocking(() -> {
      long t0 = System.nanoTime();
      task.load(reply);
      loadNanos += System.nanoTime() - t0;
      return reply;
    })).transform(ar -> {
      if (ar.succeeded()) {
        stale = 0;
        ModelReply reply = ar.result();
        double secs = (System.nanoTime() - startNanos) / 1e9;
        progress.accept(new Progress(id, round + 1, batches, lastLoss, reply.getModelVersion(),
            secs > 0 ? (round + 1) / secs : 0));
        return loop(reply, round + 1);
      }
      RpcException e = RpcException.of(ar.cause());
      if (e.code() == FailureCode.STALE_VERSION && stale < MAX_STALE_RETRIES) {
        stale++;
        return fetch().compose(m -> loop(m, round));
      }
      return Future.failedFuture(new RpcException(e.code(), "trainer '" + id + "' round " + (round + 1)
          + ": " + e.getMessage(), e));
    });
  }
}
