package dev.batchrpc.ps;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static dev.batchrpc.compute.Fixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.cpu.CpuBackend;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

/** The store against PyTorch's batch-updating PS round ({@code fixtures/ps_round.json}). */
class ParameterStoreTest {

  /** The gradient as wire bytes would present it: a little-endian view, not a float[]. */
  private static FloatBuffer wire(float[] g, int off, int len) {
    ByteBuffer b = ByteBuffer.allocate(4 * len).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(g, off, len);
    return b.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
  }

  @Test
  void roundsMatchPyTorchAndTheVersionCountsSteps() {
    for (Fixtures.Case fx : Fixtures.load("ps_round")) {
      int n = fx.integer("n_trainers");
      int[] gs = fx.shape("grads");
      int p = gs[2];
      float[] grads = fx.floats("grads");
      // capacity 1: the first round grows the slot matrix, which must keep the rows staged so far
      try (ParameterStore store = new ParameterStore(new CpuBackend(), fx.floats("params0"), 1,
          (float) fx.number("lr"), (float) fx.number("momentum"))) {
        for (int r = 0; r < gs[0]; r++) {
          for (int i = 0; i < n; i++) {
            store.stage(i, wire(grads, (r * n + i) * p, p));
          }
          assertThat(store.step(n)).isEqualTo(r + 1);
          assertClose(fx + " average " + r, store.lastAverage(), slice(fx.floats("average"), r * p, p),
              Fixtures.ATOL, Fixtures.RTOL);
          float[] read = new float[p];
          store.readParameters(FloatBuffer.wrap(read));
          assertClose(fx + " round " + r, read, slice(fx.floats("params"), r * p, p),
              Fixtures.ATOL, Fixtures.RTOL);
          assertThat(read).containsExactly(store.parameters());
        }
        assertThat(store.version()).isEqualTo(gs[0]);
      }
    }
  }

  @Test
  void roundFromWireBuffersMatchesPyTorchAndTheStagedRoundBitForBit() {
    for (Fixtures.Case fx : Fixtures.load("ps_round")) {
      int n = fx.integer("n_trainers");
      int[] gs = fx.shape("grads");
      int p = gs[2];
      float[] grads = fx.floats("grads");
      float lr = (float) fx.number("lr");
      float momentum = (float) fx.number("momentum");
      try (ParameterStore fused = new ParameterStore(new CpuBackend(), fx.floats("params0"), n, lr, momentum);
          ParameterStore staged = new ParameterStore(new CpuBackend(), fx.floats("params0"), n, lr, momentum)) {
        for (int r = 0; r < gs[0]; r++) {
          FloatBuffer[] rows = new FloatBuffer[n];
          for (int i = 0; i < n; i++) {
            rows[i] = wire(grads, (r * n + i) * p, p);
            staged.stage(i, wire(grads, (r * n + i) * p, p));
          }
          assertThat(fused.step(rows)).isEqualTo(r + 1);
          staged.step(n);
          assertClose(fx + " average " + r, fused.lastAverage(), slice(fx.floats("average"), r * p, p),
              Fixtures.ATOL, Fixtures.RTOL);
          assertClose(fx + " round " + r, fused.parameters(), slice(fx.floats("params"), r * p, p),
              Fixtures.ATOL, Fixtures.RTOL);
          assertThat(fused.lastAverage()).containsExactly(staged.lastAverage());
          assertThat(fused.parameters()).containsExactly(staged.parameters());
        }
        assertThat(fused.version()).isEqualTo(gs[0]);
      }
    }
  }

  @Test
  void aWrongLengthRowInARoundChangesNothing() {
    float[] p0 = {1, 2, 3};
    try (ParameterStore store = new ParameterStore(new CpuBackend(), p0, 2, 0.1f, 0.9f)) {
      FloatBuffer[] rows = {FloatBuffer.wrap(new float[] {1, 1, 1}), FloatBuffer.wrap(new float[4])};
      assertThatThrownBy(() -> store.step(rows)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("gradient 1 has 4 elements, the model has 3");
      assertThatThrownBy(() -> store.step(new FloatBuffer[0])).hasMessageContaining("at least one");
      assertThat(store.parameters()).containsExactly(p0);
      assertThat(store.version()).isZero();
    }
  }

  @Test
  void badInputFailsBeforeTouchingTheModel() {
    float[] p0 = {1, 2, 3};
    try (ParameterStore store = new ParameterStore(new CpuBackend(), p0, 2, 0.1f, 0.9f)) {
      assertThatThrownBy(() -> store.stage(0, FloatBuffer.wrap(new float[4])))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("4 elements, the model has 3");
      assertThatThrownBy(() -> store.stage(-1, FloatBuffer.wrap(new float[3])))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slot");
      assertThatThrownBy(() -> store.step(3)).hasMessageContaining("[1, 2]");
      assertThatThrownBy(() -> store.readParameters(FloatBuffer.allocate(2))).hasMessageContaining("room for 2");
      assertThat(store.parameters()).containsExactly(p0);
      assertThat(store.version()).isZero();
      // the first good step is still PyTorch's first step (momentum buffer = gradient)
      store.stage(0, FloatBuffer.wrap(new float[] {1, 1, 1}));
      store.stage(1, FloatBuffer.wrap(new float[] {3, 3, 3}));
      store.step(2);
      assertThat(store.parameters()).containsExactly(0.8f, 1.8f, 2.8f);
    }
    assertThatThrownBy(() -> new ParameterStore(new CpuBackend(), new float[0], 1, 0.1f, 0f))
        .hasMessageContaining("no parameters");
    assertThatThrownBy(() -> new ParameterStore(new CpuBackend(), p0, 1, Float.NaN, 0f))
        .hasMessageContaining("learning rate");
    assertThatThrownBy(() -> new ParameterStore(new CpuBackend(), p0, 1, 0.1f, 1f))
        .hasMessageContaining("momentum");
  }
}
