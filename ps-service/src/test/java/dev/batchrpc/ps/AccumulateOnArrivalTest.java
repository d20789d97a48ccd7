package dev.batchrpc.ps;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Gradients summed as they arrive ({@link ParameterStore#accumulate}, large models on the CPU):
 * bit for bit the fused round over all rows, against PyTorch's fixtures too, and a refused
 * gradient never touches the sum.
 */
class AccumulateOnArrivalTest {

  private static FloatBuffer wire(float[] g) {
    ByteBuffer b = ByteBuffer.allocate(4 * g.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(g);
    return b.asFloatBuffer();
  }

  private static float[] random(SplittableRandom rnd, int n, double scale) {
    float[] g = new float[n];
    for (int i = 0; i < n; i++) {
      g[i] = (float) ((rnd.nextDouble() - 0.5) * scale);
    }
    return g;
  }

  @Test
  void summingOnArrivalIsBitIdenticalToTheFusedRound() {
    SplittableRandom rnd = new SplittableRandom(11);
    for (int p : new int[] {1, 7, 4095, 4096, 4097, 20011}) {
      for (float momentum : new float[] {0f, 0.9f}) {
        for (int n : new int[] {1, 2, 5}) {
          float[] p0 = random(rnd, p, 2);
          try (ParameterStore fused = new ParameterStore(new CpuBackend(), p0, n, 0.01f, momentum);
               ParameterStore summed = new ParameterStore(new CpuBackend(), p0, n, 0.01f, momentum)) {
            assertThat(summed.canAccumulate()).isTrue();
            for (long round = 0; round < 3; round++) {
              FloatBuffer[] rows = new FloatBuffer[n];
              for (int i = 0; i < n; i++) {
                rows[i] = wire(random(rnd, p, 1e3));
                summed.accumulate(round, i, rows[i]);
              }
              assertThat(summed.accumulated(round, n)).isTrue();
              assertThat(summed.stepAccumulated(round, n)).isEqualTo(fused.step(rows));
              assertThat(summed.parameters()).as("p=%d n=%d momentum=%s round %d", p, n, momentum, round)
                  .containsExactly(fused.parameters());
              assertThat(summed.lastAverage()).containsExactly(fused.lastAverage());
            }
          }
        }
      }
    }
  }

  @Test
  void summingOnArrivalMatchesPyTorch() {
    for (Fixtures.Case fx : Fixtures.load("ps_round")) {
      int n = fx.integer("n_trainers");
      int[] gs = fx.shape("grads");
      int p = gs[2];
      float[] grads = fx.floats("grads");
      try (ParameterStore store = new ParameterStore(new CpuBackend(), fx.floats("params0"), n,
          (float) fx.number("lr"), (float) fx.number("momentum"))) {
        for (int r = 0; r < gs[0]; r++) {
          for (int i = 0; i < n; i++) {
            float[] g = new float[p];
            System.arraycopy(grads, (r * n + i) * p, g, 0, p);
            store.accumulate(r, i, wire(g));
          }
          store.stepAccumulated(r, n);
          float[] expected = new float[p];
          System.arraycopy(fx.floats("params"), r * p, expected, 0, p);
          assertClose(fx + " round " + r, store.parameters(), expected, Fixtures.ATOL, Fixtures.RTOL);
        }
      }
    }
  }

  @Test
  void aSumOutOfOrderOrOfAnotherRoundIsNeverUsed() {
    try (ParameterStore store = new ParameterStore(new CpuBackend(), new float[8], 3, 0.1f, 0.9f)) {
      store.accumulate(4, 0, wire(new float[8]));
      store.accumulate(4, 2, wire(new float[8])); // slot 1 skipped
      assertThat(store.accumulated(4, 3)).isFalse();
      assertThat(store.accumulated(4, 1)).isFalse();
      store.accumulate(5, 0, wire(new float[8]));
      assertThat(store.accumulated(4, 1)).isFalse();
      assertThat(store.accumulated(5, 1)).isTrue();
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> store.stepAccumulated(5, 2))
          .isInstanceOf(IllegalStateException.class);
      assertThat(store.version()).isZero();
    }
  }

  /**
   * Through the server, a model over {@link ParameterServer#ACCUMULATE_FROM_PARAMETERS}: every
   * arrival is summed on arrival (the accumulate timer counts them), a NaN gradient refused on the
   * way never touches the sum, and each round equals the fused round over the same rows.
   */
  @Test
  void theServerSumsLargeGradientsOnArrivalAndKeepsRefusedOnesOut() throws Exception {
    int p = ParameterServer.ACCUMULATE_FROM_PARAMETERS + 3;
    ModelSpec model = ModelSpec.replay(p);
    Vertx vertx = Vertx.vertx();
    try {
      ProtobufCodec.register(vertx);
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      ParameterServerVerticle v = new ParameterServerVerticle(PsConfig.of(3, model).withParticipants("t0", "t1", "t2"), meters);
      vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
      SplittableRandom rnd = new SplittableRandom(3);
      float[] p0 = model.initialParameters(0);
      try (ParameterStore reference = new ParameterStore(new CpuBackend(), p0, 3, 0.001f, 0.9f)) {
        for (int r = 0; r < 2; r++) {
          float[][] gs = {random(rnd, p, 1), random(rnd, p, 1), random(rnd, p, 1)};
          List<Future<ModelReply>> replies = new ArrayList<>();
          // Arrival order a, b, c: each waits for the previous to be in the round.
          for (int i = 0; i < 3; i++) {
            if (i == 2) {
              float[] bad = gs[2].clone();
              bad[p - 1] = Float.POSITIVE_INFINITY;
              Throwable refused = send(vertx, "t" + i, r, bad).transform(Future::succeededFuture)
                  .await(30, TimeUnit.SECONDS).cause();
              assertThat(((ReplyException) refused).failureCode()).isEqualTo(FailureCode.NON_FINITE.code());
            }
            replies.add(send(vertx, "t" + i, r, gs[i]));
            int arrived = i + 1;
            if (arrived < 3) {
              Future<ModelReply> sent = replies.get(i);
              while (v.server().await().openArrivals().await(5, TimeUnit.SECONDS) < arrived) {
                assertThat(sent.failed()).as("update of t%d failed: %s", arrived - 1, sent.cause()).isFalse();
                Thread.sleep(5);
              }
            }
          }
          FloatBuffer[] rows = {wire(gs[0]), wire(gs[1]), wire(gs[2])};
          reference.step(rows);
          for (Future<ModelReply> f : replies) {
            assertBitEqual(Tensors.toFloats(f.await(30, TimeUnit.SECONDS).getParameters()), reference.parameters());
          }
        }
      }
      assertThat(meters.find("ps.round.accumulate").timer().count()).isEqualTo(6);
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
  }

  /** Exact equality with the first difference named (AssertJ's diff of a million floats is too slow). */
  private static void assertBitEqual(float[] actual, float[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    int i = java.util.Arrays.mismatch(actual, expected);
    assertThat(i).as("first difference at %d: %s vs %s", i, i < 0 ? 0 : actual[i], i < 0 ? 0 : expected[i])
        .isEqualTo(-1);
  }

  private static Future<ModelReply> send(Vertx vertx, String id, long version, float[] g) {
    UpdateRequest q = UpdateRequest.newBuilder().setParticipantId(id).setModelVersion(version)
        .setGradients(Tensors.vector(g)).build();
    return vertx.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH, q, ProtobufCodec.options(30_000))
        .map(Message::body);
  }
}
