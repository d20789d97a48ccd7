package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.optim.Adam;
import dev.batchrpc.compute.random.Init;
import dev.batchrpc.compute.random.KeyedDraws;
import dev.batchrpc.compute.random.Rng;
import org.junit.jupiter.api.Test;

class PolicyNetTest {

  private final CpuBackend backend = new CpuBackend();

  private static Tensor rows(Fixtures.Case fx, String field, int cols) {
    float[] d = fx.floats(field);
    return Tensor.of(d, d.length / cols, cols);
  }

  @Test
  void actMatchesTorchProbsAndInverseCdfActions() {
    for (Fixtures.Case fx : Fixtures.load("policy")) {
      try (PolicyNet net = new PolicyNet(backend, fx.floats("params"))) {
        PolicyNet.Act act = net.act(fx.tensor("states"), fx.tensor("dropout_scale"),
            fx.floats("uniforms"));
        assertClose(fx + " probs", act.probs().data(), fx.floats("probs"));
        assertThat(act.actions()).as(fx + " actions").containsExactly(fx.ints("actions"));
        float[] logp = new float[act.actions().length];
        for (int b = 0; b < logp.length; b++) {
          logp[b] = (float) Math.log(act.probs().get(b, act.actions()[b]));
        }
        assertClose(fx + " log_probs", logp, fx.floats("log_probs"));
      }
    }
  }

  @Test
  void reinforceLossGradientAndAdamStepMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("reinforce")) {
      int n = fx.integer("n_obs");
      try (PolicyNet net = new PolicyNet(backend, fx.floats("params"))) {
        float loss = net.reinforce(rows(fx, "states", 4), rows(fx, "dropout_scale", 128),
            fx.ints("actions"), fx.floats("returns"), n);
        assertClose(fx + " loss", loss, fx.number("loss"), Fixtures.ATOL, Fixtures.RTOL);
        assertClose(fx + " grad", backend.download(net.grad()), fx.floats("grad"),
            Fixtures.ATOL, Fixtures.RTOL);
        if (fx.has("params_after_adam")) {
          try (Adam adam = new Adam(backend, net.params(), net.grad(), 1e-2f)) {
            adam.step();
          }
          assertClose(fx + " params after Adam", net.paramsCopy(), fx.floats("params_after_adam"));
        }
      }
    }
  }

  @Test
  void reinforceReplacesTheGradientInsteadOfAccumulating() {
    Fixtures.Case fx = Fixtures.load("reinforce").get(0);
    try (PolicyNet net = new PolicyNet(backend, fx.floats("params"))) {
      for (int i = 0; i < 2; i++) {
        net.reinforce(rows(fx, "states", 4), rows(fx, "dropout_scale", 128), fx.ints("actions"),
            fx.floats("returns"), fx.integer("n_obs"));
      }
      assertClose(fx + " grad after two calls", backend.download(net.grad()), fx.floats("grad"),
          Fixtures.ATOL, Fixtures.RTOL);
    }
  }

  @Test
  void badEpisodeInputIsRejectedAndTheGradientKept() {
    Fixtures.Case fx = Fixtures.load("reinforce").get(1);
    try (PolicyNet net = new PolicyNet(backend, fx.floats("params"))) {
      backend.fill(net.grad(), 0.25f);
      Tensor states = rows(fx, "states", 4);
      Tensor scale = rows(fx, "dropout_scale", 128);
      int[] actions = fx.ints("actions");
      float[] returns = fx.floats("returns");
      actions[3] = 2;
      assertThatThrownBy(() -> net.reinforce(states, scale, actions, returns, 3))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("actions[3] = 2");
      actions[3] = 0;
      assertThatThrownBy(() -> net.reinforce(states, scale, actions, returns, 4))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nObs = 4");
      assertThatThrownBy(() -> net.reinforce(states, Tensor.zeros(states.dim(0), 64), actions,
          returns, 3))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("[" + states.dim(0) + ", 64]").hasMessageContaining("128");
      assertThat(backend.download(net.grad())).containsOnly(0.25f);
      assertThat(net.paramsCopy()).containsExactly(fx.floats("params"));
    }
  }

  @Test
  void initialParamsFollowTorchDefaultBoundsPerLayer() {
    float[] p = PolicyNet.initialParams(new Rng(3));
    assertThat(p).hasSize(PolicyNet.PARAM_COUNT);
    double bound1 = Init.linearBound(4);
    double bound2 = Init.linearBound(128);
    for (int i = 0; i < 128 * 4 + 128; i++) {
      assertThat(Math.abs(p[i])).isLessThan((float) bound1);
    }
    float max2 = 0;
    for (int i = 128 * 4 + 128; i < p.length; i++) {
      assertThat(Math.abs(p[i])).isLessThan((float) bound2);
      max2 = Math.max(max2, Math.abs(p[i]));
    }
    // the second layer's narrower bound is actually used, and not collapsed to 0
    assertThat(max2).isGreaterThan((float) (0.5 * bound2));
    assertThatThrownBy(() -> new PolicyNet(backend, new float[897]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("897")
        .hasMessageContaining("898");
  }

  // ---- keyed draws ------------------------------------------------------------------------------

  @Test
  void actKeyedEqualsActWithKeyedDraws() {
    float[] params = PolicyNet.initialParams(new Rng(1));
    int batch = 9;
    int[] ids = {4, 8, 15, 16, 23, 42, -1, 0, 1 << 30};
    Tensor states = Tensor.of(random(new Rng(2), batch * 4), batch, 4);
    try (PolicyNet net = new PolicyNet(backend, params)) {
      PolicyNet.Act keyed = net.actKeyed(states, ids, 77, 5);
      float[] u = new float[batch];
      for (int b = 0; b < batch; b++) {
        u[b] = KeyedDraws.uniform(77, 5, ids[b]);
      }
      PolicyNet.Act plain = net.act(states, PolicyNet.keyedDropoutScales(77, new long[] {5}, ids),
          u);
      assertThat(keyed.probs().data()).containsExactly(plain.probs().data());
      assertThat(keyed.actions()).containsExactly(plain.actions());
      assertThatThrownBy(() -> net.actKeyed(states, new int[batch - 1], 77, 5))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("observers");
    }
  }

  @Test
  void keyedDropoutScalesAreStepMajorKeyedDrawsWithPointSix() {
    long[] steps = {10, 11, 12};
    int[] ids = {7, 3};
    Tensor s = PolicyNet.keyedDropoutScales(99, steps, ids);
    assertThat(s.shape()).containsExactly(6, 128);
    float[] row = new float[128];
    for (int t = 0; t < steps.length; t++) {
      for (int i = 0; i < ids.length; i++) {
        KeyedDraws.dropoutScales(99, steps[t], ids[i], 0.6f, row, 0, 128);
        float[] got = java.util.Arrays.copyOfRange(s.data(), (t * 2 + i) * 128,
            (t * 2 + i + 1) * 128);
        assertThat(got).as("row of step %d observer %d", steps[t], ids[i]).containsExactly(row);
        for (float v : got) {
          assertThat(v == 0f || v == 2.5f).isTrue();
        }
      }
    }
  }

  /** An episode acted with keyed draws trains exactly as one acted with the same masks kept. */
  @Test
  void reinforceWithRegeneratedMasksEqualsReinforceWithKeptMasks() {
    float[] params = PolicyNet.initialParams(new Rng(3));
    int n = 4;
    int steps = 5;
    int[] ids = {0, 1, 2, 3};
    long[] stepIds = new long[steps];
    Rng rng = new Rng(4);
    Tensor states = Tensor.zeros(steps * n, 4);
    int[] actions = new int[steps * n];
    float[] returns = new float[steps * n];
    float[] kept = new float[steps * n * 128];
    try (PolicyNet net = new PolicyNet(backend, params)) {
      for (int t = 0; t < steps; t++) {
        stepIds[t] = 1000 + 3L * t;
        Tensor round = Tensor.of(random(rng, n * 4), n, 4);
        System.arraycopy(round.data(), 0, states.data(), t * n * 4, n * 4);
        PolicyNet.Act act = net.actKeyed(round, ids, 42, stepIds[t]);
        System.arraycopy(act.actions(), 0, actions, t * n, n);
        for (int i = 0; i < n; i++) {
          KeyedDraws.dropoutScales(42, stepIds[t], ids[i], 0.6f, kept, (t * n + i) * 128, 128);
          returns[t * n + i] = rng.nextFloat();
        }
      }
      float lossKept = net.reinforce(states, Tensor.of(kept, steps * n, 128), actions, returns, n);
      float[] gradKept = backend.download(net.grad());
      float lossKeyed = net.reinforce(states, PolicyNet.keyedDropoutScales(42, stepIds, ids),
          actions, returns, n);
      assertThat(lossKeyed).isEqualTo(lossKept);
      assertThat(backend.download(net.grad())).containsExactly(gradKept);
    }
  }

  private static float[] random(Rng rng, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = rng.nextFloat() * 2f - 1f;
    }
    return a;
  }
}
