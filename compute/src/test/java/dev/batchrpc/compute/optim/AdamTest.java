package dev.batchrpc.compute.optim;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static dev.batchrpc.compute.Fixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

class AdamTest {

  private final CpuBackend backend = new CpuBackend();

  private static Adam adam(CpuBackend backend, Fixtures.Case fx, DeviceArray params,
                           DeviceArray grad) {
    return new Adam(backend, params, grad, (float) fx.number("lr"), (float) fx.number("beta1"),
        (float) fx.number("beta2"), (float) fx.number("eps"));
  }

  @Test
  void stepsMatchTorchAdam() {
    for (Fixtures.Case fx : Fixtures.load("adam")) {
      int[] gs = fx.shape("grads");
      int p = gs[1];
      float[] grads = fx.floats("grads");
      float[] expected = fx.floats("params");
      DeviceArray params = backend.upload(fx.floats("params0"));
      DeviceArray grad = backend.allocate(p);
      try (Adam opt = adam(backend, fx, params, grad)) {
        for (int s = 0; s < gs[0]; s++) {
          backend.copyIn(grads, s * p, grad, 0, p);
          opt.step();
          assertClose(fx + " step " + (s + 1), backend.download(params),
              slice(expected, s * p, p), Fixtures.ATOL, Fixtures.RTOL);
        }
      }
    }
  }

  @Test
  void exportedStateResumesExactly() {
    Fixtures.Case fx = Fixtures.load("adam").get(0);
    int[] gs = fx.shape("grads");
    int p = gs[1];
    int half = gs[0] / 2;
    float[] grads = fx.floats("grads");
    DeviceArray params = backend.upload(fx.floats("params0"));
    DeviceArray grad = backend.allocate(p);
    Adam.State state;
    try (Adam first = adam(backend, fx, params, grad)) {
      for (int s = 0; s < half; s++) {
        backend.copyIn(grads, s * p, grad, 0, p);
        first.step();
      }
      state = first.exportState();
    }
    assertThat(state.steps()).isEqualTo(half);
    DeviceArray resumed = backend.upload(backend.download(params));
    try (Adam second = adam(backend, fx, resumed, grad)) {
      second.restoreState(state);
      for (int s = half; s < gs[0]; s++) {
        backend.copyIn(grads, s * p, grad, 0, p);
        second.step();
      }
      assertClose("resumed Adam", backend.download(resumed),
          slice(fx.floats("params"), (gs[0] - 1) * p, p), Fixtures.ATOL, Fixtures.RTOL);
    }
  }

  @Test
  void aFailedStepOrRestoreChangesNothing() {
    DeviceArray params = backend.upload(new float[] {1f, 2f, 3f});
    DeviceArray grad = backend.upload(new float[] {1f, 1f, 1f});
    try (Adam opt = new Adam(backend, params, grad, 0.01f)) {
      opt.step();
      float[] afterOne = backend.download(params);
      Adam.State s1 = opt.exportState();
      assertThatThrownBy(() -> opt.restoreState(new Adam.State(new float[3], new float[2], 5)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("v length 2").hasMessageContaining("3");
      assertThat(opt.steps()).isEqualTo(1);
      assertThat(opt.exportState().m()).containsExactly(s1.m());
      assertThat(backend.download(params)).containsExactly(afterOne);
    }
    assertThatThrownBy(() -> new Adam(backend, params, grad, 0.01f, 1f, 0.999f, 1e-8f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("beta1=1.0");
  }
}
