package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.get;
import static dev.batchrpc.ps.ParameterServerVerticleTest.gradient;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.ModelReply;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ps --round-log}: every step's line (version, trainers) is in the file before any of its
 * trainers is answered, and a restarted server appends to it.
 */
@ExtendWith(VertxExtension.class)
class RoundLogTest {

  @TempDir
  Path dir;

  private Future<String> deploy(Vertx vertx, PsConfig config) {
    ProtobufCodec.register(vertx);
    return vertx.deployVerticle(new ParameterServerVerticle(config, null));
  }

  /** Round {@code r} of trainers a and b; each reply is checked against the log as it arrives. */
  private Future<Void> round(Vertx vertx, Path log, long version, int r, VertxTestContext ctx) {
    Future<ModelReply> a = send(vertx, update("a", version, gradient(0, r)));
    Future<ModelReply> b = send(vertx, update("b", version, gradient(1, r)));
    for (Future<ModelReply> f : List.of(a, b)) {
      f.onSuccess(reply -> ctx.verify(() -> {
        // read at the instant the answer arrived: the round's line must already be there
        List<RoundLog.Entry> entries = RoundLog.read(log);
        assertThat(entries).isNotEmpty();
        RoundLog.Entry last = entries.get(entries.size() - 1);
        assertThat(last.version()).isEqualTo(reply.getModelVersion());
        assertThat(last.ids()).containsExactlyInAnyOrder("a", "b");
        assertThat(last.unixMs()).isBetween(System.currentTimeMillis() - 60_000, System.currentTimeMillis());
      }));
    }
    return Future.all(a, b).mapEmpty();
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void eachStepIsLoggedBeforeItsTrainersAreAnsweredAndARestartAppends(Vertx vertx, VertxTestContext ctx) {
    Path log = dir.resolve("rounds.log");
    PsConfig config = PsConfig.builder(2, ModelSpec.replay(ParameterServerVerticleTest.P)).roundLog(log).build();
    deploy(vertx, config)
        .compose(id -> get(vertx, "a").compose(m -> get(vertx, "b"))
            .compose(m -> round(vertx, log, 0, 0, ctx))
            .compose(v -> round(vertx, log, 1, 1, ctx))
            .compose(v -> round(vertx, log, 2, 2, ctx))
            .compose(v -> vertx.undeploy(id)))
        .compose(v -> deploy(vertx, config))
        .compose(id -> get(vertx, "a").compose(m -> get(vertx, "b"))
            // no checkpoints: the new server starts again at version 0
            .compose(m -> round(vertx, log, 0, 3, ctx)))
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
          assertThat(lines).hasSize(6);
          assertThat(lines.get(0)).startsWith("# batch-rpc ps round log, pid " + ProcessHandle.current().pid());
          assertThat(lines.get(4)).startsWith("# ");
          assertThat(RoundLog.read(log)).extracting(RoundLog.Entry::version).containsExactly(1L, 2L, 3L, 1L);
          assertThat(RoundLog.read(log)).allSatisfy(e -> assertThat(e.ids()).hasSize(2));
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aRoundLogThatCannotBeOpenedRefusesTheStartNamingTheFlag(Vertx vertx, VertxTestContext ctx) {
    Path log = dir.resolve("no-such-dir").resolve("rounds.log");
    deploy(vertx, PsConfig.builder(1, ModelSpec.replay(10)).roundLog(log).build())
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(e).hasMessageContaining("--round-log " + log).hasMessageContaining("cannot open it");
          ctx.completeNow();
        })));
  }
}
