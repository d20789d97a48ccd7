package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.get;
import static dev.batchrpc.ps.ParameterServerVerticleTest.gradient;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The parameter server with --checkpoint-dir: periodic and final checkpoints, restore at start. */
@ExtendWith(VertxExtension.class)
class ParameterServerCheckpointTest {

  private static final ModelSpec MODEL = ModelSpec.replay(1000);
  private static final int EVERY = 2;

  @TempDir
  Path dir;

  private record Deployed(String id, ParameterServer ps) {
  }

  private static Future<Deployed> deploy(Vertx vertx, PsConfig config, SimpleMeterRegistry registry) {
    ProtobufCodec.register(vertx);
    ParameterServerVerticle v = new ParameterServerVerticle(config, registry);
    return vertx.deployVerticle(v).compose(id -> v.server().map(ps -> new Deployed(id, ps)));
  }

  private PsConfig config() {
    return PsConfig.of(1, MODEL).withCheckpoints(new CheckpointConfig(dir, EVERY, 3));
  }

  /** One trainer's rounds from {@code version}, one after another, each checked against the disk. */
  private Future<ModelReply> rounds(Vertx vertx, long version, int n, List<Long> lagAtReply) {
    Future<ModelReply> f = get(vertx, "t");
    for (int r = 0; r < n; r++) {
      int round = r;
      f = f.compose(m -> send(vertx, update("t", m.getModelVersion(), gradient(0, (int) version + round))))
          .compose(reply -> {
            try {
              // what a crash now would fall back to, against what the trainer has just seen
              List<Path> files = CheckpointDirectory.open(dir, MODEL, 3).files();
              long newest = files.isEmpty() ? 0 : CheckpointDirectory.versionOf(files.get(0));
              lagAtReply.add(reply.getModelVersion() - newest);
            } catch (IOException e) {
              return Future.failedFuture(e);
            }
            return Future.succeededFuture(reply);
          });
    }
    return f;
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void checkpointsKeepTheBoundAndANewServerResumesFromTheFinalOne(Vertx vertx, VertxTestContext ctx) {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    List<Long> lag = new ArrayList<>();
    float[][] before = new float[1][];
    deploy(vertx, config(), meters)
        .compose(d -> {
          ctx.verify(() -> {
            assertThat(d.ps().restoredVersion()).isEqualTo(-1);
            assertThat(d.ps().checkpointStatus()).contains("every 2 rounds").contains("no checkpoint to restore");
          });
          return rounds(vertx, 0, 5, lag).compose(r -> d.ps().parameters()).compose(p -> {
            before[0] = p;
            return vertx.undeploy(d.id());
          });
        })
        .compose(v -> {
          ctx.verify(() -> {
            assertThat(lag).as("a reply never runs more than --checkpoint-every ahead of the disk")
                .hasSize(5).allSatisfy(l -> assertThat(l).isBetween(0L, (long) EVERY));
            // periodic at 2 and 4, final on close at 5
            assertThat(CheckpointDirectory.open(dir, MODEL, 3).files()).extracting(p -> p.getFileName().toString())
                .containsExactly("ps-000000000005.ckpt", "ps-000000000004.ckpt", "ps-000000000002.ckpt");
            assertThat(meters.get("ps.checkpoints").tag("outcome", "written").counter().count()).isEqualTo(3);
            assertThat(meters.get("ps.checkpoint.version").gauge().value()).isEqualTo(5);
            assertThat(meters.get("ps.checkpoint.write").timer().count()).isEqualTo(3);
          });
          return deploy(vertx, config(), new SimpleMeterRegistry());
        })
        .compose(d -> {
          ctx.verify(() -> {
            assertThat(d.ps().restoredVersion()).isEqualTo(5);
            assertThat(d.ps().version()).isEqualTo(5);
            assertThat(d.ps().checkpointStatus()).contains("restored version 5 from ps-000000000005.ckpt");
          });
          return get(vertx, "t").compose(m -> {
            ctx.verify(() -> {
              assertThat(m.getModelVersion()).isEqualTo(5);
              assertThat(Tensors.toFloats(m.getParameters())).containsExactly(before[0]);
            });
            return send(vertx, update("t", 5, gradient(0, 5)));
          }).compose(r -> {
            ctx.verify(() -> assertThat(r.getModelVersion()).isEqualTo(6));
            // no round since the last checkpoint: closing writes nothing new
            return vertx.undeploy(d.id());
          });
        })
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          assertThat(CheckpointDirectory.open(dir, MODEL, 3).files()).extracting(p -> p.getFileName().toString())
              .containsExactly("ps-000000000006.ckpt", "ps-000000000005.ckpt", "ps-000000000004.ckpt");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aServerOfAnotherModelRefusesToStartOnTheDirectory(Vertx vertx, VertxTestContext ctx) {
    deploy(vertx, config(), null)
        .compose(d -> rounds(vertx, 0, 1, new ArrayList<>()).compose(r -> vertx.undeploy(d.id())))
        .compose(v -> deploy(vertx, PsConfig.of(1, ModelSpec.replay(999))
            .withCheckpoints(new CheckpointConfig(dir, EVERY, 3)), null))
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(e).hasMessageContaining("--checkpoint-dir " + dir)
              .hasMessageContaining("'replay 1000' (1000 parameters)")
              .hasMessageContaining("'replay 999' (999 parameters)");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void aDirectoryOfOnlyCorruptCheckpointsRefusesTheStartUnlessAllowed(Vertx vertx, VertxTestContext ctx)
      throws Exception {
    // a run's checkpoints, every one of them then damaged (one flipped byte each)
    Future<Void> run = deploy(vertx, config(), null)
        .compose(d -> rounds(vertx, 0, 2 * EVERY, new ArrayList<>()).compose(r -> vertx.undeploy(d.id())));
    run.compose(v -> {
      try {
        for (Path f : CheckpointDirectory.open(dir, MODEL, 3).files()) {
          byte[] bytes = java.nio.file.Files.readAllBytes(f);
          bytes[bytes.length / 2] ^= 0x5A;
          java.nio.file.Files.write(f, bytes);
        }
      } catch (java.io.IOException e) {
        return Future.failedFuture(e);
      }
      return refused(deploy(vertx, config(), null));
    }).compose(first -> refused(deploy(vertx, config(), null)).map(second -> List.of(first, second)))
        .compose(messages -> deploy(vertx, PsConfig.of(1, MODEL).withCheckpoints(new CheckpointConfig(dir, EVERY, 3,
            true)), null).map(d -> {
              ctx.verify(() -> {
                assertThat(messages.get(0)).startsWith("--checkpoint-dir " + dir + " holds no intact checkpoint")
                    .contains("--allow-empty-restore");
                // the damaged files were renamed .corrupt by the first try: the second is refused all the same
                assertThat(messages.get(1)).startsWith("--checkpoint-dir " + dir + " holds no intact checkpoint");
                assertThat(d.ps().version()).isZero();
              });
              return d;
            }))
        .onComplete(ctx.succeedingThenComplete());
  }

  private static Future<String> refused(Future<?> deployed) {
    return deployed.transform(ar -> ar.succeeded() ? Future.failedFuture(new AssertionError("started"))
        : Future.succeededFuture(ar.cause().getMessage()));
  }
}
