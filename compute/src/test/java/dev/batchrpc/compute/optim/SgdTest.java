package dev.batchrpc.compute.optim;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static dev.batchrpc.compute.Fixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

class SgdTest {

  private final CpuBackend backend = new CpuBackend();

  @Test
  void stepsMatchTorchSgdWithMomentum() {
    for (Fixtures.Case fx : Fixtures.load("sgd")) {
      int[] gs = fx.shape("grads");
      int p = gs[1];
      float[] grads = fx.floats("grads");
      float[] expected = fx.floats("params");
      DeviceArray params = backend.upload(fx.floats("params0"));
      DeviceArray grad = backend.allocate(p);
      try (Sgd sgd = new Sgd(backend, params, grad, (float) fx.number("lr"),
          (float) fx.number("momentum"))) {
        for (int s = 0; s < gs[0]; s++) {
          backend.copyIn(grads, s * p, grad, 0, p);
          sgd.step();
          assertClose(fx + " step " + s, backend.download(params), slice(expected, s * p, p),
              Fixtures.ATOL, Fixtures.RTOL);
        }
        assertThat(sgd.steps()).isEqualTo(gs[0]);
      }
    }
  }

  @Test
  void stepAveragedIsThePsRoundAndAFailedRoundChangesNothing() {
    for (Fixtures.Case fx : Fixtures.load("ps_round")) {
      int n = fx.integer("n_trainers");
      int[] gs = fx.shape("grads");
      int p = gs[2];
      float[] grads = fx.floats("grads");
      float[] expected = fx.floats("params");
      float[] p0 = fx.floats("params0");
      DeviceArray params = backend.upload(p0);
      DeviceArray grad = backend.allocate(p);
      try (Sgd sgd = new Sgd(backend, params, grad, (float) fx.number("lr"),
          (float) fx.number("momentum"))) {
        // a round with a short stacked buffer fails before touching anything, and the next good
        // round is still the first step (buf = grad)
        DeviceArray shortStack = backend.upload(slice(grads, 0, n * p - 1));
        assertThatThrownBy(() -> sgd.stepAveraged(shortStack, n))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("[" + n + " x " + p + "]");
        assertThat(backend.download(params)).containsExactly(p0);
        assertThat(sgd.steps()).isZero();
        for (int r = 0; r < gs[0]; r++) {
          sgd.stepAveraged(backend.upload(slice(grads, r * n * p, n * p)), n);
          assertClose(fx + " round " + r, backend.download(params), slice(expected, r * p, p),
              Fixtures.ATOL, Fixtures.RTOL);
        }
      }
    }
  }

  @Test
  void exportedStateResumesExactly() {
    Fixtures.Case fx = Fixtures.load("sgd").get(1);
    int[] gs = fx.shape("grads");
    int p = gs[1];
    int half = gs[0] / 2;
    float[] grads = fx.floats("grads");
    float lr = (float) fx.number("lr");
    float momentum = (float) fx.number("momentum");
    DeviceArray params = backend.upload(fx.floats("params0"));
    DeviceArray grad = backend.allocate(p);
    Sgd.State state;
    try (Sgd first = new Sgd(backend, params, grad, lr, momentum)) {
      for (int s = 0; s < half; s++) {
        backend.copyIn(grads, s * p, grad, 0, p);
        first.step();
      }
      state = first.exportState();
    }
    assertThat(state.steps()).isEqualTo(half);
    DeviceArray resumed = backend.upload(backend.download(params));
    DeviceArray uninterrupted = backend.upload(fx.floats("params0"));
    try (Sgd second = new Sgd(backend, resumed, grad, lr, momentum);
         Sgd reference = new Sgd(backend, uninterrupted, grad, lr, momentum)) {
      second.restoreState(state);
      for (int s = 0; s < gs[0]; s++) {
        backend.copyIn(grads, s * p, grad, 0, p);
        reference.step();
        if (s >= half) {
          second.step();
        }
      }
      assertThat(backend.download(resumed)).containsExactly(backend.download(uninterrupted));
    }
  }

  @Test
  void badStateOrHyperParametersAreRejectedWithoutChanges() {
    DeviceArray params = backend.upload(new float[] {1f, 2f});
    DeviceArray grad = backend.upload(new float[] {1f, 1f});
    assertThatThrownBy(() -> new Sgd(backend, params, backend.allocate(3), 0.1f, 0.9f))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("2").hasMessageContaining("3");
    assertThatThrownBy(() -> new Sgd(backend, params, grad, -0.1f, 0.9f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-0.1");
    try (Sgd sgd = new Sgd(backend, params, grad, 0.5f, 0.9f)) {
      sgd.step();
      Sgd.State good = sgd.exportState();
      assertThatThrownBy(() -> sgd.restoreState(new Sgd.State(new float[3], 4)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("3").hasMessageContaining("2");
      assertThat(sgd.exportState().momentumBuffer()).containsExactly(good.momentumBuffer());
      assertThat(sgd.steps()).isEqualTo(1);
      assertThat(backend.download(params)).containsExactly(0.5f, 1.5f);
    }
  }
}
