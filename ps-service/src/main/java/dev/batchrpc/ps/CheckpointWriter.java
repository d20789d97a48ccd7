package dev.batchrpc.ps;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * When the parameter server checkpoints, and the write-behind that keeps the loss bound.
 *
 * <p>After every {@code --checkpoint-every} = C rounds the round's worker copies the store's state
 * (a host snapshot: the only part that stops the round) and hands it to a thread of its own
 * ({@value #WRITER}), which writes it ({@link CheckpointDirectory#write}) while the next round collects
 * its gradients. The bound is that a crash loses at most C updates that a trainer has seen: a
 * round never publishes a version more than C past the newest durable checkpoint. Checkpoints
 * fall C versions apart (at k, k + C, ...: k is 0 or the restored version), so the round after
 * one (version k + 1) may be published only once k is on disk: if the write is still running
 * then, that round waits for it (timed as
 * {@code ps.checkpoint.wait}). A write usually finishes while the trainers compute, so rounds
 * rarely wait; one slower than a round stretches that round rather than the bound. A due
 * checkpoint therefore never finds a write in flight, and none is ever skipped.
 *
 * <p>A failed write is logged and counted ({@code ps.checkpoints{outcome=failed}}); training goes
 * on and the next checkpoint is due C rounds later (the bound does not hold across a failed
 * write: the disk decides). It says so: {@code ps.checkpoint.lag.versions} is the model's version
 * less the newest durable checkpoint's, and while it exceeds C (or the last write failed)
 * {@link #degradation()} names the failure, which {@code /health/ready} reports as
 * {@code DEGRADED} (still ready: training goes on) and {@code ps.checkpoint.degraded} as 1.
 *
 * <p>Threads: every method except {@link #close()} runs on the round's worker thread (the store's),
 * so the schedule needs no lock; {@code durable} is written by the writer thread and read anywhere.
 */
final class CheckpointWriter {

  static final String WRITER = "ps.checkpoint.write";
  private static final System.Logger LOG = System.getLogger(CheckpointWriter.class.getName());

  private final CheckpointDirectory dir;
  private final ModelSpec model;
  private final int every;
  private final boolean allowEmptyRestore;
  private final ExecutorService writer;
  private final Timer writeTimer;
  private final Timer waitTimer;
  private final Counter written;
  private final Counter failed;

  // ---- the round worker's ----
  /** The version of the last checkpoint handed to the writer (or restored). */
  private long lastStarted;
  /** The write in progress, or a completed one not yet looked at; null when none. */
  private CompletableFuture<Void> inFlight;
  private CheckpointDirectory.Restored restored;
  private long restoreNanos;

  /** The newest checkpoint on disk (the restored one, or 0: the seed's initial model). */
  private volatile long durable;
  /** The model version after the latest step (worker writes, read anywhere). */
  private volatile long modelVersion;
  /** The latest write's failure, or null once a write succeeded after it (writer thread writes). */
  private volatile String lastFailure;

  private CheckpointWriter(CheckpointDirectory dir, ModelSpec model, int every, boolean allowEmptyRestore,
      MeterRegistry registry) {
    this.allowEmptyRestore = allowEmptyRestore;
    this.dir = dir;
    this.model = model;
    this.every = every;
    if (dir == null) {
      this.writer = null;
      this.writeTimer = null;
      this.waitTimer = null;
      this.written = null;
      this.failed = null;
      return;
    }
    this.writer = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, WRITER);
      t.setDaemon(true);
      return t;
    });
    MeterRegistry meters = registry == null ? new SimpleMeterRegistry() : registry;
    this.writeTimer = Timer.builder("ps.checkpoint.write")
        .description("Writing one checkpoint: encode, fsync, rename, fsync of the directory, pruning")
        .register(meters);
    this.waitTimer = Timer.builder("ps.checkpoint.wait")
        .description("Time a round waited for the previous checkpoint's write to keep the loss bound")
        .register(meters);
    this.written = Counter.builder("ps.checkpoints").tag("outcome", "written")
        .description("Checkpoints written or failed").register(meters);
    this.failed = Counter.builder("ps.checkpoints").tag("outcome", "failed")
        .description("Checkpoints written or failed").register(meters);
    Gauge.builder("ps.checkpoint.version", this, c -> c.durable)
        .description("The model version of the newest checkpoint on disk")
        .register(meters);
    Gauge.builder("ps.checkpoint.lag.versions", this, CheckpointWriter::lag)
        .description("Model versions not yet in a durable checkpoint (a crash loses them); over "
            + "--checkpoint-every only while checkpoints fail")
        .register(meters);
    Gauge.builder("ps.checkpoint.degraded", this, c -> c.degradation() == null ? 0 : 1)
        .description("1 while checkpoints fail and the loss bound does not hold (/health/ready: DEGRADED)")
        .register(meters);
  }

  /**
   * The checkpointer of {@code config}: opens (creates) {@code --checkpoint-dir}, or does nothing
   * when it is unset. Disk: call on a worker.
   *
   * @throws IllegalArgumentException if the directory cannot be used (naming the flag)
   */
  static CheckpointWriter open(PsConfig config, MeterRegistry registry) {
    CheckpointConfig c = config.checkpoints();
    CheckpointDirectory dir = c.enabled() ? CheckpointDirectory.open(c.dir(), config.model(), c.keep()) : null;
    return new CheckpointWriter(dir, config.model(), c.every(), c.allowEmptyRestore(), registry);
  }

  /**
   * The state to start from: the newest intact checkpoint, or null (none, or checkpoints off).
   *
   * @throws IllegalStateException if the directory's newest intact checkpoint is of another model,
   *     or it holds only torn or corrupt checkpoints and {@code --allow-empty-restore} is not given
   * @throws IOException if the directory cannot be listed
   */
  ParameterStore.State restore() throws IOException {
    if (dir == null) {
      return null;
    }
    long t0 = System.nanoTime();
    restored = dir.restore();
    restoreNanos = System.nanoTime() - t0;
    if (!restored.found()) {
      List<Path> corrupt = dir.corruptFiles();
      if (!corrupt.isEmpty() && !allowEmptyRestore) {
        // Starting from version 0 here would silently throw the run away.
        throw onlyCorrupt(dir.dir(), corrupt);
      }
      LOG.log(corrupt.isEmpty() ? System.Logger.Level.INFO : System.Logger.Level.WARNING, "no intact checkpoint in "
          + dir.dir() + (corrupt.isEmpty() ? "" : " (" + corrupt.size() + " corrupt, --allow-empty-restore)")
          + ": starting from the initial model");
      return null;
    }
    CheckpointFile c = restored.checkpoint();
    durable = c.version();
    lastStarted = c.version();
    modelVersion = c.version();
    LOG.log(System.Logger.Level.INFO, String.format(Locale.ROOT,
        "restored model version %d from %s in %.1f ms", c.version(), restored.file(), restoreNanos / 1e6));
    return c.state();
  }

  /** The refusal to start from the initial model when {@code dir} holds only torn or corrupt checkpoints. */
  static IllegalStateException onlyCorrupt(Path dir, List<Path> corrupt) {
    return new IllegalStateException("--checkpoint-dir " + dir + " holds no intact checkpoint, only "
        + corrupt.size() + " torn or corrupt one(s) (" + corrupt.get(corrupt.size() - 1).getFileName()
        + (corrupt.size() > 1 ? ", ..." : "") + "): refusing to start from the initial model; give "
        + "--allow-empty-restore to do that on purpose");
  }

  /**
   * Right after the store is made from a model nothing else can reproduce (a client's
   * {@code InitModel}: no file, no seed), with nothing restored: writes version 0 at once, so a
   * crash before the first scheduled checkpoint does not lose the model. Waits for the write.
   *
   * @throws IllegalStateException if the write fails (the model is then not taken: nothing is
   *     half-loaded, and the caller may try again)
   */
  void initial(ParameterStore store) {
    if (dir == null || !model.kind().equals("tensors") || restoredVersion() >= 0) {
      return;
    }
    try {
      dir.write(CheckpointFile.of(model, store));
      written.increment();
    } catch (IOException | RuntimeException e) {
      failed.increment();
      throw new IllegalStateException("--checkpoint-dir " + dir.dir() + ": the initial model (version 0) could not "
          + "be written (" + e + "), so it is not taken", e);
    }
  }

  /** The restored version, or -1 when nothing was restored. */
  long restoredVersion() {
    return restored != null && restored.found() ? restored.checkpoint().version() : -1;
  }

  /** Versions between the model and the newest durable checkpoint. Any thread. */
  long lag() {
    return Math.max(0, modelVersion - durable);
  }

  /**
   * What is wrong with durability now, or null while checkpoints keep the loss bound: the latest
   * write failed, or the model is more than {@code --checkpoint-every} versions past the newest
   * durable checkpoint. Always null without {@code --checkpoint-dir}. Any thread.
   */
  String degradation() {
    if (dir == null) {
      return null;
    }
    String failure = lastFailure;
    long lag = lag();
    if (failure == null && lag <= every) {
      return null;
    }
    return "checkpoints failing: the newest durable checkpoint is version " + durable + ", " + lag
        + " version(s) behind the model (a crash would lose them; --checkpoint-every " + every + ")"
        + (failure == null ? "" : "; last failure: " + failure);
  }

  /** The newest durable checkpoint's version. */
  long durableVersion() {
    return durable;
  }

  /** One phrase for the server's start line. */
  String describe() {
    if (dir == null) {
      return "no checkpoints";
    }
    String from = restoredVersion() >= 0
        ? String.format(Locale.ROOT, "restored version %d from %s in %.1f ms", restoredVersion(),
            restored.file().getFileName(), restoreNanos / 1e6)
        : "no checkpoint to restore, initial model";
    String skipped = restored == null || restored.skipped().isEmpty() ? ""
        : ", skipped " + restored.skipped().size() + " torn or corrupt: " + String.join("; ", restored.skipped());
    return "checkpoints in " + dir.dir() + " every " + every + " rounds (" + from + skipped + ")";
  }

  /**
   * After a round's step, before its model is published: keeps the bound (waits for the previous
   * write if it is still running and needed) and starts a checkpoint when one is due. Never
   * throws: the round's step is already taken and must be published.
   */
  void afterStep(ParameterStore store) {
    if (dir == null) {
      return;
    }
    long v = store.version();
    modelVersion = v;
    if (inFlight != null) {
      if (v - durable > every && !inFlight.isDone()) {
        long t0 = System.nanoTime();
        awaitInFlight();
        waitTimer.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
      }
      if (inFlight.isDone()) {
        inFlight = null;
      }
    }
    if (v - lastStarted >= every && inFlight == null) {
      lastStarted = v;
      try {
        CheckpointFile c = CheckpointFile.of(model, store);
        inFlight = CompletableFuture.runAsync(() -> write(c), writer);
      } catch (RuntimeException e) {
        fail(v, e);
      }
    }
  }

  /** On close, after the last round: a final checkpoint unless the newest on disk is current. */
  void finish(ParameterStore store) {
    if (dir == null) {
      return;
    }
    if (inFlight != null) {
      awaitInFlight();
      inFlight = null;
    }
    if (store.version() > durable) {
      try {
        CheckpointFile c = CheckpointFile.of(model, store);
        CompletableFuture.runAsync(() -> write(c), writer).join();
      } catch (RuntimeException e) {
        fail(store.version(), e);
      }
    }
  }

  /** Stops the writer thread (after {@link #finish}). Any thread. */
  void close() {
    if (writer != null) {
      writer.shutdown();
    }
  }

  private void awaitInFlight() {
    try {
      inFlight.join();
    } catch (CompletionException e) {
      // write() counts and logs its own failures; nothing is left to wait for
    }
  }

  /** On the writer thread. */
  private void write(CheckpointFile c) {
    long t0 = System.nanoTime();
    try {
      dir.write(c);
      durable = Math.max(durable, c.version());
      lastFailure = null;
      writeTimer.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
      written.increment();
    } catch (IOException | RuntimeException e) {
      fail(c.version(), e);
    }
  }

  private void fail(long version, Exception e) {
    failed.increment();
    lastFailure = "version " + version + ": " + e;
    LOG.log(System.Logger.Level.WARNING, "checkpoint of model version " + version + " to " + dir.dir()
        + " failed (" + e + "); training goes on, the next checkpoint is due " + every + " rounds later");
  }
}
