package dev.batchrpc.compute;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static dev.batchrpc.compute.Fixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.random.KeyedDraws;
import dev.batchrpc.compute.random.Rng;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link Backend} contract, checked against PyTorch fixtures and a double-precision reference.
 * Each backend's test extends this class and supplies {@link #createBackend()}; a GPU backend may
 * widen {@link #atol()} / {@link #rtol()} (stating why). The CPU backend meets the contract's
 * tolerance on every step of every multi-step fixture (20+ SGD and Adam steps, PS rounds).
 */
public abstract class AbstractBackendTest {

  protected Backend backend;

  /** A fresh backend for one test. */
  protected abstract Backend createBackend();

  /** Absolute tolerance against the fixtures (the contract's 1e-6 by default). */
  protected double atol() {
    return Fixtures.ATOL;
  }

  /** Relative tolerance against the fixtures (the contract's 1e-5 by default). */
  protected double rtol() {
    return Fixtures.RTOL;
  }

  @BeforeEach
  void openBackend() {
    backend = createBackend();
  }

  @AfterEach
  void closeBackend() {
    backend.close();
  }

  private DeviceArray up(float[] a) {
    return backend.upload(a);
  }

  private float[] down(DeviceArray a) {
    return backend.download(a);
  }

  private static float[] random(Rng rng, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = rng.nextFloat() * 2f - 1f;
    }
    return a;
  }

  // ---- memory -------------------------------------------------------------------------------

  @Test
  void uploadDownloadAndRangesAreChecked() {
    float[] src = {1f, 2f, 3f, 4f};
    DeviceArray a = up(src);
    assertThat(a.length()).isEqualTo(4);
    assertThat(down(a)).containsExactly(src);
    backend.copyIn(new float[] {9f, 8f}, 0, a, 2, 2);
    float[] part = new float[3];
    backend.copyOut(a, 1, part, 1, 2);
    assertThat(part).containsExactly(0f, 2f, 9f);
    assertThatThrownBy(() -> backend.copyIn(new float[] {7f, 7f, 7f}, 0, a, 2, 3))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2, 5)")
        .hasMessageContaining("4");
    assertThat(down(a)).containsExactly(1f, 2f, 9f, 8f);
    backend.fill(a, 0.5f);
    assertThat(down(a)).containsOnly(0.5f);
    assertThat(down(backend.allocate(3))).containsOnly(0f);
  }

  @Test
  void floatBufferCopiesLeaveThePositionAndCheckRanges() {
    DeviceArray a = backend.allocate(5);
    java.nio.FloatBuffer in = java.nio.ByteBuffer.allocateDirect(16)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(new float[] {1f, 2f, 3f, 4f});
    in.position(1);
    backend.copyIn(in, a, 2);
    assertThat(in.position()).isEqualTo(1);
    assertThat(down(a)).containsExactly(0f, 0f, 2f, 3f, 4f);
    java.nio.FloatBuffer out = java.nio.FloatBuffer.allocate(3);
    backend.copyOut(a, 2, out);
    assertThat(out.position()).isZero();
    assertThat(out.array()).containsExactly(2f, 3f, 4f);
    assertThatThrownBy(() -> backend.copyIn(in, a, 3)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[3, 6)").hasMessageContaining("5");
    assertThat(down(a)).containsExactly(0f, 0f, 2f, 3f, 4f);
  }

  // ---- sgemm --------------------------------------------------------------------------------

  @Test
  void sgemmMatchesDoubleReferenceForEveryTransposition() {
    Rng rng = new Rng(11);
    int[][] shapes = {{7, 5, 3}, {1, 128, 4}, {33, 2, 128}, {64, 65, 66}};
    for (int[] s : shapes) {
      int m = s[0];
      int n = s[1];
      int k = s[2];
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        float[] a = random(rng, m * k);
        float[] b = random(rng, k * n);
        float[] c0 = random(rng, m * n);
        float alpha = 0.75f;
        float beta = -0.5f;
        float[] expected = new float[m * n];
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++) {
              double av = ta ? a[p * m + i] : a[i * k + p];
              double bv = tb ? b[j * k + p] : b[p * n + j];
              acc += av * bv;
            }
            expected[i * n + j] = (float) (alpha * acc + beta * c0[i * n + j]);
          }
        }
        DeviceArray c = up(c0);
        backend.sgemm(ta, tb, m, n, k, alpha, up(a), up(b), beta, c);
        // a k-term float32 dot product: error grows like k * eps * sum|a_i b_i| (|a|,|b| < 1)
        assertClose("sgemm m=" + m + " n=" + n + " k=" + k + " tA=" + ta + " tB=" + tb, down(c),
            expected, 1e-6 * k, 1e-5);
      }
    }
  }

  @Test
  void sgemmRejectsShortOperandNamingTheShapeAndLeavesCUnchanged() {
    float[] c0 = {1f, 2f, 3f, 4f, 5f, 6f};
    DeviceArray c = up(c0);
    assertThatThrownBy(() -> backend.sgemm(false, false, 2, 3, 4, 1f, up(new float[7]),
        up(new float[12]), 0f, c))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2 x 4]").hasMessageContaining("8").hasMessageContaining("7");
    assertThat(down(c)).containsExactly(c0);
  }

  // ---- parameter server -----------------------------------------------------------------------

  @Test
  void sumAverageMatchesPsRoundFixture() {
    for (Fixtures.Case fx : Fixtures.load("ps_round")) {
      int n = fx.integer("n_trainers");
      int[] gs = fx.shape("grads");
      int rounds = gs[0];
      int p = gs[2];
      float[] grads = fx.floats("grads");
      float[] average = fx.floats("average");
      DeviceArray out = backend.allocate(p);
      for (int r = 0; r < rounds; r++) {
        backend.sumAverage(up(slice(grads, r * n * p, n * p)), n, p, out);
        assertClose(fx + " average round " + r, down(out), slice(average, r * p, p), atol(),
            rtol());
      }
    }
  }

  @Test
  void averageAndSgdMatchesPsRoundFixture() {
    for (Fixtures.Case fx : Fixtures.load("ps_round")) {
      int n = fx.integer("n_trainers");
      float lr = (float) fx.number("lr");
      float momentum = (float) fx.number("momentum");
      int[] gs = fx.shape("grads");
      int rounds = gs[0];
      int p = gs[2];
      float[] grads = fx.floats("grads");
      float[] average = fx.floats("average");
      float[] expectedParams = fx.floats("params");
      DeviceArray params = up(fx.floats("params0"));
      DeviceArray grad = backend.allocate(p);
      DeviceArray buf = backend.allocate(p);
      // a stacked buffer with a spare row, as a server sized for more trainers would hold
      DeviceArray stacked = backend.allocate((n + 1) * p);
      for (int r = 0; r < rounds; r++) {
        backend.copyIn(grads, r * n * p, stacked, 0, n * p);
        backend.averageAndSgd(stacked, n, grad, params, buf, lr, momentum, r == 0);
        assertClose(fx + " average round " + r, down(grad), slice(average, r * p, p),
            atol(), rtol());
        assertClose(fx + " params round " + r, down(params), slice(expectedParams, r * p, p),
            atol(), rtol());
      }
    }
  }

  @Test
  void averageAndSgdWithTooFewRowsChangesNothing() {
    float[] p0 = {1f, 2f, 3f};
    DeviceArray params = up(p0);
    DeviceArray grad = up(new float[] {4f, 5f, 6f});
    DeviceArray buf = up(new float[] {7f, 8f, 9f});
    DeviceArray stacked = up(new float[] {1f, 1f, 1f, 1f, 1f});
    assertThatThrownBy(() -> backend.averageAndSgd(stacked, 2, grad, params, buf, 0.1f, 0.9f,
        false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2 x 3]").hasMessageContaining("5");
    assertThat(down(params)).containsExactly(p0);
    assertThat(down(grad)).containsExactly(4f, 5f, 6f);
    assertThat(down(buf)).containsExactly(7f, 8f, 9f);
  }

  // ---- optimizers -----------------------------------------------------------------------------

  @Test
  void sgdMomentumMatchesTorchOverManySteps() {
    for (Fixtures.Case fx : Fixtures.load("sgd")) {
      float lr = (float) fx.number("lr");
      float momentum = (float) fx.number("momentum");
      int[] gs = fx.shape("grads");
      int steps = gs[0];
      int p = gs[1];
      float[] grads = fx.floats("grads");
      float[] expected = fx.floats("params");
      DeviceArray params = up(fx.floats("params0"));
      DeviceArray grad = backend.allocate(p);
      DeviceArray buf = backend.allocate(p);
      for (int s = 0; s < steps; s++) {
        backend.copyIn(grads, s * p, grad, 0, p);
        backend.sgdMomentum(params, grad, buf, lr, momentum, s == 0);
        assertClose(fx + " step " + s, down(params), slice(expected, s * p, p),
            atol(), rtol());
      }
    }
  }

  @Test
  void sgdWithMismatchedBufferChangesNothing() {
    float[] p0 = {1f, 2f, 3f};
    DeviceArray params = up(p0);
    DeviceArray grad = up(new float[] {1f, 1f, 1f});
    DeviceArray buf = up(new float[] {5f, 5f});
    assertThatThrownBy(() -> backend.sgdMomentum(params, grad, buf, 0.1f, 0.9f, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("3").hasMessageContaining("2");
    assertThat(down(params)).containsExactly(p0);
    assertThat(down(buf)).containsExactly(5f, 5f);
  }

  @Test
  void adamMatchesTorchOverManySteps() {
    for (Fixtures.Case fx : Fixtures.load("adam")) {
      float lr = (float) fx.number("lr");
      float b1 = (float) fx.number("beta1");
      float b2 = (float) fx.number("beta2");
      float eps = (float) fx.number("eps");
      int[] gs = fx.shape("grads");
      int steps = gs[0];
      int p = gs[1];
      float[] grads = fx.floats("grads");
      float[] expected = fx.floats("params");
      DeviceArray params = up(fx.floats("params0"));
      DeviceArray grad = backend.allocate(p);
      DeviceArray m = backend.allocate(p);
      DeviceArray v = backend.allocate(p);
      for (int s = 0; s < steps; s++) {
        backend.copyIn(grads, s * p, grad, 0, p);
        backend.adam(params, grad, m, v, s + 1, lr, b1, b2, eps);
        assertClose(fx + " step " + (s + 1), down(params), slice(expected, s * p, p),
            atol(), rtol());
      }
    }
  }

  @Test
  void adamWithMismatchedMomentsChangesNothing() {
    float[] p0 = {1f, 2f, 3f};
    DeviceArray params = up(p0);
    DeviceArray grad = up(new float[] {1f, 1f, 1f});
    DeviceArray m = up(new float[] {0.5f, 0.5f, 0.5f});
    DeviceArray v = up(new float[] {0.5f, 0.5f, 0.5f, 0.5f});
    assertThatThrownBy(() -> backend.adam(params, grad, m, v, 1, 0.01f, 0.9f, 0.999f, 1e-8f))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("3").hasMessageContaining("4");
    assertThatThrownBy(() -> backend.adam(params, grad, m, up(new float[3]), 0, 0.01f, 0.9f,
        0.999f, 1e-8f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
    assertThat(down(params)).containsExactly(p0);
    assertThat(down(m)).containsOnly(0.5f);
  }

  // ---- policy -----------------------------------------------------------------------------------

  @Test
  void policyActMatchesTorchPolicy() {
    for (Fixtures.Case fx : Fixtures.load("policy")) {
      int batch = fx.shape("states")[0];
      DeviceArray probs = backend.allocate(batch * 2);
      int[] actions = new int[batch];
      backend.policyAct(up(fx.floats("params")), 4, 128, 2, batch, up(fx.floats("states")),
          up(fx.floats("dropout_scale")), up(fx.floats("uniforms")), probs, actions);
      assertClose(fx + " probs", down(probs), fx.floats("probs"), atol(), rtol());
      assertThat(actions).as(fx + " actions").containsExactly(fx.ints("actions"));
    }
  }

  @Test
  void policyActRejectsBadInputAndWritesNothing() {
    Fixtures.Case fx = Fixtures.load("policy").get(1);
    int batch = fx.shape("states")[0];
    float[] u = fx.floats("uniforms");
    u[batch - 1] = 1f;
    DeviceArray probs = up(new float[batch * 2]);
    int[] actions = new int[batch];
    java.util.Arrays.fill(actions, -1);
    DeviceArray params = up(fx.floats("params"));
    DeviceArray states = up(fx.floats("states"));
    DeviceArray scale = up(fx.floats("dropout_scale"));
    assertThatThrownBy(() -> backend.policyAct(params, 4, 128, 2, batch, states, scale, up(u),
        probs, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("uniforms");
    assertThatThrownBy(() -> backend.policyAct(params, 4, 128, 2, batch + 1, states, scale,
        up(fx.floats("uniforms")), probs, actions))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[" + (batch + 1) + " x 4]");
    assertThatThrownBy(() -> backend.policyAct(params, 4, 64, 2, batch, states, scale,
        up(fx.floats("uniforms")), probs, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("898")
        .hasMessageContaining("4-64-2");
    assertThat(down(probs)).containsOnly(0f);
    assertThat(actions).containsOnly(-1);
  }

  // ---- keyed policy -----------------------------------------------------------------------------

  /** Observer ids for a keyed round: scattered, negative, repeated, and more than the batch. */
  private static int[] observerIds(int batch) {
    int[] ids = new int[batch + 3];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = (i * 7919) % 1009 - 20;
    }
    if (batch > 2) {
      ids[batch - 1] = ids[0]; // a repeated id gets the same draws
    }
    return ids;
  }

  @Test
  void policyActKeyedEqualsPolicyActWithKeyedDraws() {
    float[] p = Fixtures.load("policy").get(0).floats("params");
    Rng rng = new Rng(77);
    for (int batch : new int[] {0, 1, 37, 300}) {
      for (long[] key : new long[][] {{42, 0}, {0x0123456789ABCDEFL, 0x100000003L}, {-1, -1}}) {
        long seed = key[0];
        long step = key[1];
        int[] obs = observerIds(batch);
        float[] x = random(rng, batch * 4 + 4); // longer than needed: buffers may be reused
        if (batch > 2) {
          System.arraycopy(x, 0, x, (batch - 1) * 4, 4); // the repeated id's row: same state
        }
        float[] scale = new float[batch * 128];
        float[] u = new float[batch];
        for (int b = 0; b < batch; b++) {
          KeyedDraws.dropoutScales(seed, step, obs[b], 0.6f, scale, b * 128, 128);
          u[b] = KeyedDraws.uniform(seed, step, obs[b]);
        }
        DeviceArray params = up(p);
        DeviceArray states = up(x);
        DeviceArray expectedProbs = backend.allocate(batch * 2);
        int[] expectedActions = new int[batch];
        backend.policyAct(params, 4, 128, 2, batch, states, up(scale), up(u), expectedProbs,
            expectedActions);
        DeviceArray probs = backend.allocate(batch * 2 + 2);
        int[] actions = new int[batch + 1];
        actions[batch] = -5;
        backend.policyActKeyed(params, 4, 128, 2, batch, states, obs, seed, step, 0.6f, probs,
            actions);
        float[] got = down(probs);
        float[] want = down(expectedProbs);
        String what = "batch " + batch + " seed " + seed + " step " + step;
        assertClose(what + " probs", slice(got, 0, batch * 2), want, atol(), rtol());
        assertThat(got[batch * 2]).isZero();
        assertThat(actions[batch]).as("actionsOut beyond the batch").isEqualTo(-5);
        for (int b = 0; b < batch; b++) {
          float pLeft = want[b * 2];
          if (Math.abs(u[b] - pLeft) > 1e-5f) {
            assertThat(actions[b]).as(what + " action %d (u=%s)", b, u[b])
                .isEqualTo(expectedActions[b]);
          }
        }
        if (batch > 2) {
          // Same id, same state, same draws: the same row up to rounding. Not bit for bit: a
          // BLAS may round a row differently by its position in the batch (vector body vs tail).
          assertClose(what + " repeated observer id", slice(got, (batch - 1) * 2, 2),
              slice(got, 0, 2), atol(), rtol());
          if (Math.abs(u[0] - got[0]) > 1e-5f) {
            assertThat(actions[batch - 1]).as("repeated observer id").isEqualTo(actions[0]);
          }
        }
      }
    }
  }

  @Test
  void policyActKeyedIsDeterministicAndDependsOnTheStep() {
    float[] p = Fixtures.load("policy").get(0).floats("params");
    int batch = 200;
    int[] obs = observerIds(batch);
    DeviceArray params = up(p);
    DeviceArray states = up(random(new Rng(3), batch * 4));
    float[][] probs = new float[3][];
    for (int i = 0; i < 3; i++) {
      DeviceArray out = backend.allocate(batch * 2);
      backend.policyActKeyed(params, 4, 128, 2, batch, states, obs, 9, i == 2 ? 11 : 10, 0.6f,
          out, new int[batch]);
      probs[i] = down(out);
    }
    assertThat(probs[1]).containsExactly(probs[0]);
    int differ = 0;
    for (int i = 0; i < probs[0].length; i++) {
      differ += probs[2][i] != probs[0][i] ? 1 : 0;
    }
    assertThat(differ).as("probabilities changed by another step's masks").isGreaterThan(batch);
  }

  @Test
  void policyActKeyedRejectsBadInputAndWritesNothing() {
    float[] p = Fixtures.load("policy").get(0).floats("params");
    int batch = 5;
    DeviceArray params = up(p);
    DeviceArray states = up(random(new Rng(4), batch * 4));
    DeviceArray probs = up(new float[batch * 2]);
    int[] actions = new int[batch];
    java.util.Arrays.fill(actions, -1);
    int[] obs = {0, 1, 2, 3, 4};
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 128, 2, batch, states,
        new int[] {0, 1, 2, 3}, 1, 1, 0.6f, probs, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("observers")
        .hasMessageContaining("4").hasMessageContaining("batch is 5");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 128, 2, batch, states, null, 1, 1,
        0.6f, probs, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("observers");
    for (float bad : new float[] {-0.5f, 1.01f, Float.NaN}) {
      assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 128, 2, batch, states, obs, 1, 1,
          bad, probs, actions))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dropoutP");
    }
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 128, 2, batch + 1, states,
        new int[] {0, 1, 2, 3, 4, 5}, 1, 1, 0.6f, probs, actions))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[" + (batch + 1) + " x 4]");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 64, 2, batch, states, obs, 1, 1,
        0.6f, probs, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("898")
        .hasMessageContaining("4-64-2");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 128, 2, batch, states, obs, 1, 1,
        0.6f, probs, new int[batch - 1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("actionsOut");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 128, 2, batch, states, obs, 1, 1,
        0.6f, params, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("alias");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 0, 128, 2, batch, states, obs, 1, 1,
        0.6f, probs, actions))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("in=0");
    assertThat(down(probs)).containsOnly(0f);
    assertThat(actions).containsOnly(-1);
    assertThat(down(params)).containsExactly(p);
  }

  @Test
  void policyActKeyedWithDropoutOneUsesTheBiasesOnly() {
    // p = 1 drops every hidden unit: logits are b2 for every row, whatever the state
    float[] p = Fixtures.load("policy").get(0).floats("params");
    int batch = 3;
    DeviceArray probs = backend.allocate(batch * 2);
    backend.policyActKeyed(up(p), 4, 128, 2, batch, up(random(new Rng(5), batch * 4)),
        new int[] {1, 2, 3}, 1, 1, 1f, probs, new int[batch]);
    float b20 = p[898 - 2];
    float b21 = p[898 - 1];
    double p0 = 1 / (1 + Math.exp(b21 - b20));
    float[] got = down(probs);
    for (int b = 0; b < batch; b++) {
      assertThat((double) got[2 * b]).isCloseTo(p0, org.assertj.core.data.Offset.offset(1e-6));
    }
  }
}
