package dev.batchrpc.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.ps.CheckpointConfig;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Trainers across a parameter-server restart (one local Vert.x), across a scripted crash that
 * leaves them with different last versions, and the failures that end a run.
 */
@ExtendWith(VertxExtension.class)
class TrainerRetryTest {

  @TempDir
  Path dir;

  private static Future<String> deploy(Vertx vertx, PsConfig config) {
    return vertx.deployVerticle(new ParameterServerVerticle(config, null));
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void trainersRideOutARestartAndFinishEveryBatchWithoutARoundTwice(Vertx vertx, VertxTestContext ctx) {
    int batches = 20;
    PsConfig config = TrainerTest.psConfig(2).withCheckpoints(new CheckpointConfig(dir, 50, 3));
    PsClient client = PsClient.eventBus(vertx, 5_000);
    AtomicBoolean restarted = new AtomicBoolean();
    deploy(vertx, config).compose(first -> {
      List<Future<Trainer.Summary>> runs = new ArrayList<>();
      for (String id : List.of("r0", "r1")) {
        runs.add(new Trainer(vertx, client, id, new ClassificationTask("synthetic", TrainerTest.LAYERS, 8, 2, id),
            batches, p -> {
              // Stop the server mid-run (its final checkpoint holds every step), start a fresh one
              // on the same directory a little later: the trainers see NO_HANDLERS, then a server
              // that does not know them (registration mode) until they fetch again.
              if (p.modelVersion() == 8 && restarted.compareAndSet(false, true)) {
                vertx.undeploy(first).compose(v -> {
                  Promise<Void> pause = Promise.promise();
                  vertx.setTimer(500, t -> pause.complete());
                  return pause.future();
                }).compose(v -> deploy(vertx, config)).onFailure(ctx::failNow);
              }
            }, Duration.ofSeconds(20)).run());
      }
      return Future.all(runs);
    }).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      assertThat(restarted).isTrue();
      for (Trainer.Summary s : all.<Trainer.Summary>list()) {
        assertThat(s.rounds()).isEqualTo(batches);
        // a graceful stop loses nothing: every round of each trainer is one version, none twice
        assertThat(s.finalVersion()).isEqualTo(batches);
        assertThat(s.outages()).isEqualTo(1);
        assertThat(s.outageRetries()).isPositive();
        assertThat(s.outageNanos()).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(400));
        assertThat(s.roundsRedone()).isZero();
      }
      ctx.completeNow();
    })));
  }

  /**
   * Synchronous rounds of two trainers over a version counter, in memory, that "crashes" once:
   * when the round producing {@code crashAt} closes, only its first arrival gets the reply, the
   * other is failed as if the server died, and the server continues from {@code restoreTo} (its
   * checkpoint). Refuses like the real server: STALE_VERSION, DUPLICATE.
   */
  private static final class CrashingServer implements PsClient {
    private record Pending(Context ctx, Promise<ModelReply> promise) {
    }

    private final long crashAt;
    private final long restoreTo;
    private final Map<String, Pending> open = new LinkedHashMap<>();
    private long version;
    private boolean crashed;
    private int rounds;

    CrashingServer(long crashAt, long restoreTo) {
      this.crashAt = crashAt;
      this.restoreTo = restoreTo;
    }

    private static ModelReply reply(long v) {
      return ModelReply.newBuilder().setModelVersion(v).setParameters(Tensors.vector(new float[1])).build();
    }

    @Override
    public synchronized Future<ModelReply> getModel(String participantId) {
      return Future.succeededFuture(reply(version));
    }

    /** Trainers that left after their last round: later rounds are smaller, as the ps's are. */
    private final java.util.Set<String> left = new java.util.HashSet<>();

    @Override
    public synchronized Future<Void> leave(String participantId) {
      left.add(participantId);
      if (!open.isEmpty() && open.size() >= 2 - left.size()) {
        step();
      }
      return Future.succeededFuture();
    }

    @Override
    public synchronized Future<ModelReply> updateAndFetch(UpdateRequest q) {
      String id = q.getParticipantId();
      if (q.getModelVersion() != version) {
        return Future.failedFuture(new RpcException(FailureCode.STALE_VERSION, id + " sent version "
            + q.getModelVersion() + ", the server is at " + version));
      }
      if (open.containsKey(id)) {
        return Future.failedFuture(new RpcException(FailureCode.DUPLICATE, id + " is in the open round"));
      }
      Promise<ModelReply> p = Promise.promise();
      open.put(id, new Pending(Vertx.currentContext(), p));
      if (open.size() >= 2 - left.size()) {
        step();
      }
      return p.future();
    }

    private void step() {
      version++;
      rounds++;
      List<Pending> round = List.copyOf(open.values());
      open.clear();
      boolean crash = !crashed && version == crashAt;
      ModelReply r = reply(version);
      for (int i = 0; i < round.size(); i++) {
        Promise<ModelReply> each = round.get(i).promise();
        if (crash && i > 0) {
          round.get(i).ctx().runOnContext(v -> each.fail(new RpcException(FailureCode.UNAVAILABLE,
              "event bus timeout: the server died")));
        } else {
          round.get(i).ctx().runOnContext(v -> each.complete(r));
        }
      }
      if (crash) {
        crashed = true;
        version = restoreTo;
      }
    }
  }

  /** No compute: one float of gradient, the loss 0. */
  private static final class NoTask implements GradientTask {
    @Override
    public String describe() {
      return "none";
    }

    @Override
    public void load(ModelReply model) {
    }

    @Override
    public Step step() {
      return new Step(0f, Tensors.vector(new float[1]));
    }
  }

  private static Future<List<Trainer.Summary>> runAgainst(Vertx vertx, CrashingServer server, int batches) {
    List<Future<Trainer.Summary>> runs = new ArrayList<>();
    for (String id : List.of("a", "b")) {
      runs.add(new Trainer(vertx, server, id, new NoTask(), batches, null, Duration.ofSeconds(10)).run());
    }
    return Future.all(runs).map(all -> all.<Trainer.Summary>list());
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void trainersThatSawDifferentLastVersionsAgreeAfterARestoreAndRedoTheLostRounds(Vertx vertx,
      VertxTestContext ctx) {
    // The reply of the round to version 7 reaches one trainer only; the server comes back at 5:
    // one trainer held 7 (2 rounds lost), the other 6 (1 lost). Counting replies, they would end
    // one round apart and the last round would never fill.
    CrashingServer server = new CrashingServer(7, 5);
    runAgainst(vertx, server, 12).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      assertThat(all).extracting(Trainer.Summary::finalVersion).containsOnly(12L);
      assertThat(all).extracting(Trainer.Summary::rounds).containsOnly(12);
      assertThat(all).extracting(Trainer.Summary::roundsRedone).containsExactlyInAnyOrder(2, 1);
      // the one that got the reply met the restored server with a stale request, the other an outage
      assertThat(all).extracting(Trainer.Summary::outages).containsExactlyInAnyOrder(0, 1);
      assertThat(server.rounds).as("rounds the server ran, lost ones included").isEqualTo(12 + 2);
      ctx.completeNow();
    })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aRoundWhoseReplyWasLostIsDoneAgainNotClaimed(Vertx vertx, VertxTestContext ctx) {
    // The server kept the step (its checkpoint has version 7) but one trainer never got the reply:
    // without an answer it cannot know its gradient was in that step (the others may have stepped
    // without it), so it takes part in one more round rather than claim one it cannot prove. The
    // other leaves after its 12 rounds; the last round is the one of the trainer that missed a reply.
    CrashingServer server = new CrashingServer(7, 7);
    runAgainst(vertx, server, 12).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      assertThat(all).extracting(Trainer.Summary::rounds).containsOnly(12);
      assertThat(all).extracting(Trainer.Summary::finalVersion).containsExactlyInAnyOrder(12L, 13L);
      assertThat(all).extracting(Trainer.Summary::roundsRedone).containsOnly(0);
      assertThat(server.rounds).isEqualTo(13);
      ctx.completeNow();
    })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void anOutageLongerThanTheRetryTimeoutEndsTheRun(Vertx vertx, VertxTestContext ctx) {
    long t0 = System.nanoTime();
    // no server at all: every fetch fails with NO_HANDLERS
    new Trainer(vertx, PsClient.eventBus(vertx, 1_000), "alone",
        new ClassificationTask("synthetic", TrainerTest.LAYERS, 4, 1, "alone"), 3, null, Duration.ofSeconds(1))
        .run()
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          double seconds = (System.nanoTime() - t0) / 1e9;
          assertThat(RpcException.of(e).code()).isEqualTo(FailureCode.UNAVAILABLE);
          assertThat(e).hasMessageContaining("did not come back within --retry-timeout-s 1");
          assertThat(seconds).isBetween(0.9, 10.0);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aRefusalThatIsNoOutageEndsTheRunAtOnceDespiteRetries(Vertx vertx, VertxTestContext ctx) {
    long t0 = System.nanoTime();
    deploy(vertx, TrainerTest.psConfig(1))
        .compose(id -> new Trainer(vertx, PsClient.eventBus(vertx, 5_000), "t0",
            new ClassificationTask("synthetic", new int[] {8, 4}, 4, 1, "t0"), 3, null, Duration.ofSeconds(30)).run())
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(RpcException.of(e).code()).isEqualTo(FailureCode.BAD_REQUEST);
          assertThat(e).hasMessageContaining("--layers [8,4] has 36");
          assertThat((System.nanoTime() - t0) / 1e9).as("no retries").isLessThan(10);
          ctx.completeNow();
        })));
  }
}
