package dev.batchrpc.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.ps.CheckpointConfig;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Trainers across a parameter-server restart (one local Vert.x), and the failures that end a run. */
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
      }
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
