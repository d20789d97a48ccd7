package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.reference;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
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

/** A round of 1,000 trainers in one process: one reply for all, the model of the direct loop. */
@ExtendWith(VertxExtension.class)
class ParameterServerLoadTest {

  private static final int TRAINERS = 1000;
  private static final int ROUNDS = 3;
  private static final int P = 256;
  private static final ModelSpec MODEL = ModelSpec.replay(P);

  /**
   * Trainer {@code t}'s gradient in round {@code r}: multiples of 1/64 in [-1/8, 1/8], so every
   * partial sum of a round is exact in float32 and the average does not depend on arrival order.
   */
  private static float[] gradient(int t, int r) {
    float[] g = new float[P];
    for (int i = 0; i < P; i++) {
      g[i] = ((t * 31 + i * 7 + r * 13) % 17 - 8) / 64f;
    }
    return g;
  }

  private static String id(int t) {
    return "trainer-" + t;
  }

  @Test
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  void aThousandTrainersGetOneReplyAndTheDirectModel(Vertx vertx, VertxTestContext ctx) {
    String[] ids = new String[TRAINERS];
    List<float[][]> rounds = new ArrayList<>();
    for (int t = 0; t < TRAINERS; t++) {
      ids[t] = id(t);
    }
    for (int r = 0; r < ROUNDS; r++) {
      float[][] gs = new float[TRAINERS][];
      for (int t = 0; t < TRAINERS; t++) {
        gs[t] = gradient(t, r);
      }
      rounds.add(gs);
    }
    float[][] expected = reference(MODEL.initialParameters(0), rounds);
    ProtobufCodec.register(vertx);
    List<List<ModelReply>> replies = new ArrayList<>();
    Future<Void> chain = vertx.deployVerticle(new ParameterServerVerticle(
        PsConfig.of(TRAINERS, MODEL).withParticipants(ids), null)).mapEmpty();
    for (int r = 0; r < ROUNDS; r++) {
      int round = r;
      chain = chain.compose(v -> {
        List<Future<ModelReply>> sent = new ArrayList<>();
        // the last trainer first, so arrival order is not id order
        for (int t = TRAINERS - 1; t >= 0; t--) {
          sent.add(send(vertx, update(ids[t], round, rounds.get(round)[t])));
        }
        return Future.all(sent).map(all -> {
          replies.add(all.list());
          return null;
        });
      });
    }
    chain.onComplete(ctx.succeeding(v -> ctx.verify(() -> {
      for (int r = 0; r < ROUNDS; r++) {
        List<ModelReply> round = replies.get(r);
        assertThat(round).hasSize(TRAINERS);
        ModelReply first = round.get(0);
        for (ModelReply reply : round) {
          // one reply object per round, sent to every trainer
          assertThat(reply).isSameAs(first);
        }
        assertThat(first.getModelVersion()).isEqualTo(r + 1);
        assertThat(first.getRoundSize()).isEqualTo(TRAINERS);
        assertThat(Tensors.toFloats(first.getParameters())).as("round %d", r).containsExactly(expected[r]);
      }
      ctx.completeNow();
    })));
  }
}
