package dev.batchrpc.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.optim.Sgd;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Trainers against a real parameter server on one local Vert.x. */
@ExtendWith(VertxExtension.class)
class TrainerTest {

  static final int[] LAYERS = {16, 32, 4};
  static final float LR = 0.05f;

  static PsConfig psConfig(int trainers) {
    return PsConfig.builder(trainers, ModelSpec.mlp(LAYERS)).lr(LR).seed(3).build();
  }

  static Future<ParameterServer> deployPs(Vertx vertx, PsConfig config) {
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    return vertx.deployVerticle(v).compose(id -> v.server());
  }

  /** The plain single-process loop: same tasks, rounds in trainer order, sum/average/step. */
  static float[] reference(PsConfig config, List<String> ids, int rounds, int batchSize, long seed) {
    float[] p0 = config.model().initialParameters(config.seed());
    List<ClassificationTask> tasks = new ArrayList<>();
    for (String id : ids) {
      tasks.add(new ClassificationTask("synthetic", LAYERS, batchSize, seed, id));
    }
    CpuBackend backend = new CpuBackend();
    DeviceArray params = backend.upload(p0);
    int p = p0.length;
    try (Sgd sgd = new Sgd(backend, params, backend.allocate(p), config.lr(), config.momentum())) {
      for (int r = 0; r < rounds; r++) {
        ModelReply model = ModelReply.newBuilder().setParameters(Tensors.vector(backend.download(params))).build();
        float[] stacked = new float[ids.size() * p];
        for (int i = 0; i < ids.size(); i++) {
          tasks.get(i).load(model);
          Tensors.readInto(tasks.get(i).step().gradients(), stacked, i * p);
        }
        sgd.stepAveraged(backend.upload(stacked), ids.size());
      }
    }
    return backend.download(params);
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void threeTrainersLearnTheSyntheticTaskAndMatchTheSingleProcessLoop(Vertx vertx, VertxTestContext ctx) {
    PsConfig config = psConfig(3);
    List<String> ids = List.of("t0", "t1", "t2");
    int rounds = 40;
    List<List<Float>> losses = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
    deployPs(vertx, config).compose(ps -> {
      PsClient client = PsClient.eventBus(vertx, 10_000);
      List<Future<Trainer.Summary>> runs = new ArrayList<>();
      for (int i = 0; i < ids.size(); i++) {
        List<Float> mine = losses.get(i);
        runs.add(new Trainer(vertx, client, ids.get(i),
            new ClassificationTask("synthetic", LAYERS, 20, 11, ids.get(i)), rounds,
            p -> mine.add(p.loss())).run());
      }
      return Future.all(runs).compose(all -> ps.parameters().map(params -> {
        List<Trainer.Summary> summaries = all.list();
        ctx.verify(() -> {
          for (Trainer.Summary s : summaries) {
            assertThat(s.rounds()).isEqualTo(rounds);
            assertThat(s.finalVersion()).isEqualTo(rounds);
          }
          for (List<Float> l : losses) {
            assertThat(l).hasSize(rounds);
            double first = l.subList(0, 5).stream().mapToDouble(Float::doubleValue).average().orElseThrow();
            double last = l.subList(rounds - 5, rounds).stream().mapToDouble(Float::doubleValue).average().orElseThrow();
            assertThat(last).as("loss falls: first 5 rounds %.4f, last 5 %.4f", first, last).isLessThan(0.7 * first);
          }
          // arrival order varies between runs, so the sums differ from the fixed-order loop by rounding
          Fixtures.assertClose("parameters after " + rounds + " rounds", params,
              reference(config, ids, rounds, 20, 11), 1e-5, 1e-4);
        });
        return params;
      }));
    }).onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aModelOfAnotherShapeIsRefusedWithBothSizes(Vertx vertx, VertxTestContext ctx) {
    deployPs(vertx, psConfig(1)).compose(ps -> new Trainer(vertx, PsClient.eventBus(vertx, 10_000), "t0",
            new ClassificationTask("synthetic", new int[] {8, 4}, 4, 1, "t0"), 3, null).run())
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(e).hasMessageContaining("has 676 parameters").hasMessageContaining("--layers [8,4] has 36");
          ctx.completeNow();
        })));
  }

  /**
   * A long run in one process: 100,000 rounds of a tiny model end with their summary. Rounds follow
   * each other as tasks on the trainer's context, so neither the stack (a chain of 4,000 nested
   * futures overflowed it) nor the heap grows with the rounds.
   */
  @Test
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  void aHundredThousandRoundsEndWithTheirSummary(Vertx vertx, VertxTestContext ctx) {
    int rounds = 100_000;
    PsConfig config = PsConfig.of(1, ModelSpec.replay(4));
    deployPs(vertx, config).compose(ps -> new Trainer(vertx, PsClient.eventBus(vertx, 10_000), "t0",
            new ReplayTask(), rounds, null).run().map(summary -> {
              ctx.verify(() -> {
                assertThat(summary.rounds()).isEqualTo(rounds);
                assertThat(summary.finalVersion()).isEqualTo(rounds);
                assertThat(ps.version()).isEqualTo(rounds);
                Runtime rt = Runtime.getRuntime();
                System.gc();
                // The run keeps nothing per round: what is left is the JVM's and the test's own.
                assertThat(rt.totalMemory() - rt.freeMemory()).isLessThan(256L << 20);
              });
              return summary;
            }))
        .onComplete(ctx.succeedingThenComplete());
  }

  @Test
  void aTaskWithoutALossPrintsNoneRatherThanNaN() {
    assertThat(new Trainer.Progress("t", 1, 2, Float.NaN, 1, 3.0).lossText()).isEmpty();
    assertThat(new Trainer.Progress("t", 1, 2, 0.25f, 1, 3.0).lossText()).isEqualTo(" loss 0.25000");
    assertThat(summary(Float.NaN, Float.NaN).lossText()).isEmpty();
    assertThat(summary(0.5f, 0.25f).lossText()).isEqualTo(", loss 0.50000 -> 0.25000");
  }

  private static Trainer.Summary summary(float firstLoss, float lastLoss) {
    return new Trainer.Summary("t", 2, firstLoss, lastLoss, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  }
}
