package dev.batchrpc.compute.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.random.KeyedDraws;
import dev.batchrpc.compute.random.Rng;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link CudaBackend} against the reference {@link CpuBackend} on identical inputs.
 *
 * <p>Tolerances: sumAverage, sgdMomentum, averageAndSgd are bit-identical (same float32
 * operations in the same order; the fused update uses fma exactly where the CPU does). Adam is
 * expected bit-identical as well (sqrt and division are correctly rounded on both) and is held to
 * 1 ulp. SGEMM: {@code |gpu - cpu| <= 4 k 2^-24 sum_p |alpha a_ip b_pj| + |beta c|} (two float32
 * GEMMs with different summation orders). policyAct: probabilities within 1e-5 absolute (other
 * summation order for the hidden layer; expf within 2 ulp); actions identical for every row
 * whose uniform is farther than 1e-5 from a cumulative probability. policyActKeyed: the same
 * tolerance against the CPU's (host-drawn) reference, and bit-identical to the GPU's own policyAct
 * given {@link KeyedDraws}' draws (the kernel draws the same bits and then computes as policy_act).
 */
@Tag("gpu")
class CudaParityTest {

  private static CudaBackend gpu;
  private static CpuBackend cpu;

  @BeforeAll
  static void open() {
    CudaRuntime.Probe p = CudaRuntime.probe();
    assumeTrue(p.available(), () -> "no usable GPU: " + p.reason());
    gpu = new CudaBackend();
    cpu = new CpuBackend();
  }

  @AfterAll
  static void close() {
    if (gpu != null) {
      gpu.close();
    }
  }

  private static float[] random(Rng rng, int n, float scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (rng.nextFloat() * 2f - 1f) * scale;
    }
    return a;
  }

  // lengths hitting the float4, float2 and scalar kernels, and the PS size's remainder (2 mod 4)
  @ParameterizedTest
  @ValueSource(ints = {1, 3, 4, 6, 1026, 4099, 65_536, 23_569_502 % 100_000 + 100_000})
  void sumAverageIsBitIdentical(int length) {
    Rng rng = new Rng(length);
    for (int count : new int[] {1, 2, 5}) {
      float[] stacked = random(rng, count * length + length, 3f); // one spare row: rows >= count
      float[] expected = run(cpu, b -> {
        DeviceArray s = b.upload(stacked);
        DeviceArray out = b.allocate(length);
        b.sumAverage(s, count, length, out);
        return b.download(out);
      });
      float[] actual = run(gpu, b -> {
        DeviceArray s = b.upload(stacked);
        DeviceArray out = b.allocate(length);
        b.sumAverage(s, count, length, out);
        return b.download(out);
      });
      assertThat(actual).as("sumAverage count=%d length=%d", count, length).isEqualTo(expected);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 10, 4096, 100_003})
  void sgdMomentumIsBitIdenticalInEveryMode(int length) {
    Rng rng = new Rng(31 + length);
    float[] p0 = random(rng, length, 1f);
    float[][] grads = new float[6][];
    for (int i = 0; i < grads.length; i++) {
      grads[i] = random(rng, length, 0.5f);
    }
    for (float momentum : new float[] {0f, 0.9f}) {
      float[] expected = sgdSteps(cpu, p0, grads, momentum);
      float[] actual = sgdSteps(gpu, p0, grads, momentum);
      assertThat(actual).as("sgd momentum=%s length=%d", momentum, length).isEqualTo(expected);
    }
  }

  private static float[] sgdSteps(Backend b, float[] p0, float[][] grads, float momentum) {
    try (DeviceArray p = b.upload(p0); DeviceArray buf = b.allocate(p0.length)) {
      for (int s = 0; s < grads.length; s++) {
        try (DeviceArray g = b.upload(grads[s])) {
          b.sgdMomentum(p, g, momentum == 0f ? null : buf, 0.05f, momentum, s == 0);
        }
      }
      float[] out = b.download(p);
      float[] bufOut = b.download(buf);
      float[] both = new float[out.length * 2];
      System.arraycopy(out, 0, both, 0, out.length);
      System.arraycopy(bufOut, 0, both, out.length, out.length);
      return both;
    }
  }

  /** A PS over many rounds with varying round sizes: the fused kernel on both backends. */
  @ParameterizedTest
  @ValueSource(ints = {5, 1022, 4096, 250_001})
  void averageAndSgdOverManyRoundsIsBitIdentical(int length) {
    Rng rng = new Rng(77 + length);
    float[] p0 = random(rng, length, 1f);
    int rounds = 40;
    float[][] stacked = new float[rounds][];
    int[] counts = new int[rounds];
    for (int r = 0; r < rounds; r++) {
      counts[r] = 1 + (r % 5);
      stacked[r] = random(rng, 5 * length, 0.1f);
    }
    float[] expected = psRounds(cpu, p0, stacked, counts);
    float[] actual = psRounds(gpu, p0, stacked, counts);
    assertThat(actual).as("params, last gradient and momentum after %d rounds", rounds)
        .isEqualTo(expected);
  }

  private static float[] psRounds(Backend b, float[] p0, float[][] stacked, int[] counts) {
    int n = p0.length;
    try (DeviceArray p = b.upload(p0); DeviceArray g = b.allocate(n);
         DeviceArray buf = b.allocate(n); DeviceArray s = b.allocate(5 * n)) {
      for (int r = 0; r < stacked.length; r++) {
        b.copyIn(stacked[r], 0, s, 0, stacked[r].length);
        b.averageAndSgd(s, counts[r], g, p, buf, 0.01f, 0.9f, r == 0);
      }
      float[] out = new float[3 * n];
      b.copyOut(p, 0, out, 0, n);
      b.copyOut(g, 0, out, n, n);
      b.copyOut(buf, 0, out, 2 * n, n);
      return out;
    }
  }

  @Test
  void averageAndSgdEqualsTheTwoCallsInSequenceOnTheGpu() {
    Rng rng = new Rng(5);
    int n = 10_001;
    float[] stacked = random(rng, 3 * n, 1f);
    float[] p0 = random(rng, n, 1f);
    float[] fused = run(gpu, b -> {
      DeviceArray s = b.upload(stacked);
      DeviceArray g = b.allocate(n);
      DeviceArray p = b.upload(p0);
      DeviceArray buf = b.allocate(n);
      b.averageAndSgd(s, 3, g, p, buf, 0.1f, 0.9f, true);
      b.averageAndSgd(s, 3, g, p, buf, 0.1f, 0.9f, false);
      return b.download(p);
    });
    float[] split = run(gpu, b -> {
      DeviceArray s = b.upload(stacked);
      DeviceArray g = b.allocate(n);
      DeviceArray p = b.upload(p0);
      DeviceArray buf = b.allocate(n);
      for (int step = 0; step < 2; step++) {
        b.sumAverage(s, 3, n, g);
        b.sgdMomentum(p, g, buf, 0.1f, 0.9f, step == 0);
      }
      return b.download(p);
    });
    assertThat(fused).isEqualTo(split);
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 898, 4097})
  void adamOverManyStepsMatchesWithinOneUlp(int length) {
    Rng rng = new Rng(9 + length);
    float[] p0 = random(rng, length, 1f);
    float[][] grads = new float[25][];
    for (int i = 0; i < grads.length; i++) {
      grads[i] = random(rng, length, 0.3f);
    }
    float[] expected = adamSteps(cpu, p0, grads);
    float[] actual = adamSteps(gpu, p0, grads);
    for (int i = 0; i < expected.length; i++) {
      assertThat(actual[i]).as("adam state element %d of %d", i, expected.length)
          .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(Math.ulp(expected[i])));
    }
  }

  private static float[] adamSteps(Backend b, float[] p0, float[][] grads) {
    int n = p0.length;
    try (DeviceArray p = b.upload(p0); DeviceArray m = b.allocate(n); DeviceArray v = b.allocate(n)) {
      for (int s = 0; s < grads.length; s++) {
        try (DeviceArray g = b.upload(grads[s])) {
          b.adam(p, g, m, v, s + 1, 1e-2f, 0.9f, 0.999f, 1e-8f);
        }
      }
      float[] out = new float[3 * n];
      b.copyOut(p, 0, out, 0, n);
      b.copyOut(m, 0, out, n, n);
      b.copyOut(v, 0, out, 2 * n, n);
      return out;
    }
  }

  @Test
  void sgemmMatchesCpuForTransposesAndOddSizes() {
    Rng rng = new Rng(123);
    int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 1, 128}, {1, 128, 4},
        {129, 127, 31}, {256, 300, 513}};
    for (int[] s : shapes) {
      int m = s[0];
      int n = s[1];
      int k = s[2];
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        float[] a = random(rng, m * k, 1f);
        float[] bm = random(rng, k * n, 1f);
        float[] c0 = random(rng, m * n, 1f);
        float alpha = 1.25f;
        float beta = -0.5f;
        float[] expected = run(cpu, b -> {
          DeviceArray c = b.upload(c0);
          b.sgemm(ta, tb, m, n, k, alpha, b.upload(a), b.upload(bm), beta, c);
          return b.download(c);
        });
        float[] actual = run(gpu, b -> {
          DeviceArray c = b.upload(c0);
          b.sgemm(ta, tb, m, n, k, alpha, b.upload(a), b.upload(bm), beta, c);
          return b.download(c);
        });
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < n; j++) {
            double abs = Math.abs(beta * c0[i * n + j]);
            for (int p = 0; p < k; p++) {
              double av = ta ? a[p * m + i] : a[i * k + p];
              double bv = tb ? bm[j * k + p] : bm[p * n + j];
              abs += Math.abs(alpha * av * bv);
            }
            double bound = 4.0 * (k + 1) * Math.ulp(1f) / 2 * abs;
            assertThat((double) actual[i * n + j]).as("C[%d,%d] m=%d n=%d k=%d tA=%s tB=%s", i, j,
                m, n, k, ta, tb).isCloseTo(expected[i * n + j],
                org.assertj.core.data.Offset.offset(bound));
          }
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 11, 1000})
  void policyActMatchesCpu(int batch) {
    policyParity(batch, 4, 128, 2, 1000 + batch);
  }

  /** A wide input makes the parameters exceed shared memory: the kernel's global-memory path. */
  @Test
  void policyActWithParametersTooLargeForSharedMemoryMatchesCpu() {
    policyParity(50, 100, 128, 3, 4242);
  }

  private static void policyParity(int batch, int in, int hidden, int out, long seed) {
    Rng rng = new Rng(seed);
    int nParams = hidden * in + hidden + out * hidden + out;
    float[] params = random(rng, nParams, (float) (1 / Math.sqrt(in)));
    float[] states = random(rng, batch * in, 2f);
    float[] scale = new float[batch * hidden];
    rng.dropoutScales(scale, 0, scale.length, 0.6);
    float[] u = new float[batch];
    rng.nextFloats(u, 0, batch);
    int[] cpuActions = new int[batch];
    int[] gpuActions = new int[batch];
    float[] cpuProbs = policy(cpu, params, in, hidden, out, batch, states, scale, u, cpuActions);
    float[] gpuProbs = policy(gpu, params, in, hidden, out, batch, states, scale, u, gpuActions);
    for (int i = 0; i < cpuProbs.length; i++) {
      assertThat(gpuProbs[i]).as("probs[%d] batch=%d", i, batch)
          .isCloseTo(cpuProbs[i], org.assertj.core.data.Offset.offset(1e-5f));
    }
    int ambiguous = 0;
    for (int r = 0; r < batch; r++) {
      boolean nearTie = false;
      float cum = 0f;
      for (int o = 0; o < out - 1; o++) {
        cum += cpuProbs[r * out + o];
        nearTie |= Math.abs(u[r] - cum) <= 1e-5f;
      }
      if (nearTie) {
        ambiguous++;
        continue;
      }
      assertThat(gpuActions[r]).as("action of row %d (u=%s) batch=%d", r, u[r], batch)
          .isEqualTo(cpuActions[r]);
    }
    assertThat(ambiguous).as("rows with a uniform within 1e-5 of a cumulative probability")
        .isLessThanOrEqualTo(Math.max(1, batch / 100));
  }

  private static float[] policy(Backend b, float[] params, int in, int hidden, int out,
                                int batch, float[] states, float[] scale, float[] u,
                                int[] actions) {
    return run(b, x -> {
      DeviceArray probs = x.allocate(batch * out);
      x.policyAct(x.upload(params), in, hidden, out, batch, x.upload(states), x.upload(scale),
          x.upload(u), probs, actions);
      return x.download(probs);
    });
  }

  // ---- keyed draws ------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(ints = {1, 11, 1000, 100_000})
  void policyActKeyedMatchesCpu(int batch) {
    keyedParity(batch, 4, 128, 2, 0x5EEDL + batch, 3L * batch + 1);
  }

  /** A partial last group of 128 units, two groups, and the global-memory parameter path. */
  @Test
  void policyActKeyedWithOtherShapesMatchesCpu() {
    keyedParity(300, 4, 100, 2, 1, 2);
    keyedParity(300, 4, 200, 3, 3, 4);
    keyedParity(50, 100, 128, 3, 5, 6);
  }

  /** Observer ids of a keyed round: scattered, some negative, more than the batch. */
  private static int[] observers(int batch, long seed) {
    Rng rng = new Rng(seed);
    int[] ids = new int[batch + 2];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = (int) rng.nextLong();
    }
    return ids;
  }

  private static void keyedParity(int batch, int in, int hidden, int out, long seed, long step) {
    Rng rng = new Rng(seed);
    int nParams = hidden * in + hidden + out * hidden + out;
    float[] params = random(rng, nParams, (float) (1 / Math.sqrt(in)));
    float[] states = random(rng, batch * in, 2f);
    int[] ids = observers(batch, seed);
    int[] cpuActions = new int[batch];
    int[] gpuActions = new int[batch];
    float[] cpuProbs = keyed(cpu, params, in, hidden, out, batch, states, ids, seed, step,
        cpuActions);
    float[] gpuProbs = keyed(gpu, params, in, hidden, out, batch, states, ids, seed, step,
        gpuActions);
    for (int i = 0; i < cpuProbs.length; i++) {
      assertThat(gpuProbs[i]).as("probs[%d] batch=%d %d-%d-%d", i, batch, in, hidden, out)
          .isCloseTo(cpuProbs[i], org.assertj.core.data.Offset.offset(1e-5f));
    }
    int ambiguous = 0;
    for (int r = 0; r < batch; r++) {
      float u = KeyedDraws.uniform(seed, step, ids[r]);
      boolean nearTie = false;
      float cum = 0f;
      for (int o = 0; o < out - 1; o++) {
        cum += cpuProbs[r * out + o];
        nearTie |= Math.abs(u - cum) <= 1e-5f;
      }
      if (nearTie) {
        ambiguous++;
        continue;
      }
      assertThat(gpuActions[r]).as("action of row %d (u=%s) batch=%d", r, u, batch)
          .isEqualTo(cpuActions[r]);
    }
    assertThat(ambiguous).as("rows with a uniform within 1e-5 of a cumulative probability")
        .isLessThanOrEqualTo(Math.max(1, batch / 100));
  }

  private static float[] keyed(Backend b, float[] params, int in, int hidden, int out, int batch,
                               float[] states, int[] ids, long seed, long step, int[] actions) {
    return run(b, x -> {
      DeviceArray probs = x.allocate(batch * out);
      x.policyActKeyed(x.upload(params), in, hidden, out, batch, x.upload(states), ids, seed,
          step, 0.6f, probs, actions);
      return x.download(probs);
    });
  }

  /**
   * The in-kernel draws are KeyedDraws' bits: policy_act_keyed equals policy_act fed with the
   * host's masks and uniforms exactly (same operations in the same order after the mask). A
   * mismatch here with the tolerance tests passing points at the layout (block, word, key).
   */
  @ParameterizedTest
  @ValueSource(ints = {1, 1000, 33_333})
  void policyActKeyedIsBitIdenticalToPolicyActWithHostDraws(int batch) {
    for (int[] shape : new int[][] {{4, 128, 2}, {4, 200, 3}}) {
      int in = shape[0];
      int hidden = shape[1];
      int out = shape[2];
      long seed = -7L * batch;
      long step = (1L << 32) + batch;
      Rng rng = new Rng(batch);
      float[] params = random(rng, hidden * in + hidden + out * hidden + out, 0.5f);
      float[] states = random(rng, batch * in, 2f);
      int[] ids = observers(batch, batch);
      float[] scale = new float[batch * hidden];
      float[] u = new float[batch];
      for (int r = 0; r < batch; r++) {
        KeyedDraws.dropoutScales(seed, step, ids[r], 0.6f, scale, r * hidden, hidden);
        u[r] = KeyedDraws.uniform(seed, step, ids[r]);
      }
      int[] hostActions = new int[batch];
      int[] keyedActions = new int[batch];
      float[] hostProbs = policy(gpu, params, in, hidden, out, batch, states, scale, u,
          hostActions);
      float[] keyedProbs = keyed(gpu, params, in, hidden, out, batch, states, ids, seed, step,
          keyedActions);
      assertThat(keyedProbs).as("probs batch=%d hidden=%d", batch, hidden).isEqualTo(hostProbs);
      assertThat(keyedActions).as("actions batch=%d hidden=%d", batch, hidden)
          .isEqualTo(hostActions);
    }
  }

  @Test
  void policyActKeyedRejectsBadInputOnTheGpuAndWritesNothing() {
    int batch = 4;
    try (DeviceArray params = gpu.upload(new float[898]);
         DeviceArray states = gpu.upload(new float[batch * 4]);
         DeviceArray probs = gpu.upload(new float[batch * 2])) {
      int[] actions = {-1, -1, -1, -1};
      assertThatThrownBy(() -> gpu.policyActKeyed(params, 4, 128, 2, batch, states,
          new int[] {1, 2, 3}, 1, 1, 0.6f, probs, actions))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("policyAct observers has length 3 but the batch is 4");
      assertThatThrownBy(() -> gpu.policyActKeyed(params, 4, 128, 2, batch, states,
          new int[] {1, 2, 3, 4}, 1, 1, 2f, probs, actions))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("policyAct dropoutP must be in [0, 1], got 2.0");
      assertThatThrownBy(() -> gpu.policyActKeyed(params, 4, 128, 17, batch, states,
          new int[] {1, 2, 3, 4}, 1, 1, 0.6f, probs, actions))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 16");
      try (DeviceArray foreign = cpu.upload(new float[batch * 4])) {
        assertThatThrownBy(() -> gpu.policyActKeyed(params, 4, 128, 2, batch, foreign,
            new int[] {1, 2, 3, 4}, 1, 1, 0.6f, probs, actions))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("states")
            .hasMessageContaining("cpu");
      }
      assertThat(gpu.download(probs)).containsOnly(0f);
      assertThat(actions).containsOnly(-1);
    }
  }

  /** An agent episode: several acting rounds, then an Adam step on the policy, on each backend. */
  @Test
  void agentRoundsAndUpdateGiveTheSameResultsOnBothBackends() {
    Rng rng = new Rng(2024);
    int in = 4;
    int hidden = 128;
    int out = 2;
    int batch = 257;
    int nParams = hidden * in + hidden + out * hidden + out;
    float[] params = random(rng, nParams, 0.5f);
    float[] grad = random(rng, nParams, 0.05f);
    float[][] states = new float[5][];
    float[][] scales = new float[5][];
    float[][] us = new float[5][];
    for (int r = 0; r < 5; r++) {
      states[r] = random(rng, batch * in, 1f);
      scales[r] = new float[batch * hidden];
      rng.dropoutScales(scales[r], 0, scales[r].length, 0.6);
      us[r] = new float[batch];
      rng.nextFloats(us[r], 0, batch);
    }
    int[][] cpuActions = new int[5][batch];
    int[][] gpuActions = new int[5][batch];
    float[] cpuParams = episode(cpu, params, grad, states, scales, us, cpuActions);
    float[] gpuParams = episode(gpu, params, grad, states, scales, us, gpuActions);
    assertThat(gpuActions).isDeepEqualTo(cpuActions);
    for (int i = 0; i < nParams; i++) {
      assertThat(gpuParams[i]).as("policy parameter %d after the update", i)
          .isCloseTo(cpuParams[i], org.assertj.core.data.Offset.offset(Math.ulp(cpuParams[i])));
    }
  }

  private static float[] episode(Backend b, float[] params, float[] grad, float[][] states,
                                 float[][] scales, float[][] us, int[][] actions) {
    int in = 4;
    int hidden = 128;
    int out = 2;
    int batch = us[0].length;
    try (DeviceArray p = b.upload(params); DeviceArray g = b.upload(grad);
         DeviceArray m = b.allocate(params.length); DeviceArray v = b.allocate(params.length);
         DeviceArray x = b.allocate(batch * in); DeviceArray s = b.allocate(batch * hidden);
         DeviceArray u = b.allocate(batch); DeviceArray probs = b.allocate(batch * out)) {
      for (int r = 0; r < states.length; r++) {
        b.copyIn(states[r], 0, x, 0, states[r].length);
        b.copyIn(scales[r], 0, s, 0, scales[r].length);
        b.copyIn(us[r], 0, u, 0, batch);
        b.policyAct(p, in, hidden, out, batch, x, s, u, probs, actions[r]);
      }
      b.adam(p, g, m, v, 1, 1e-2f, 0.9f, 0.999f, 1e-8f);
      return b.download(p);
    }
  }

  @Test
  void arraysOfAnotherBackendAreRefusedAndNothingChanges() {
    try (DeviceArray p = gpu.upload(new float[] {1f, 2f, 3f});
         DeviceArray foreign = cpu.upload(new float[] {1f, 1f, 1f})) {
      assertThatThrownBy(() -> gpu.sgdMomentum(p, foreign, null, 0.1f, 0f, true))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("grad")
          .hasMessageContaining("cpu");
      try (DeviceArray shortGrad = gpu.upload(new float[] {1f, 1f})) {
        assertThatThrownBy(() -> gpu.sgdMomentum(p, shortGrad, null, 0.1f, 0f, true))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3")
            .hasMessageContaining("2");
      }
      assertThat(gpu.download(p)).containsExactly(1f, 2f, 3f);
    }
  }

  private interface Body {
    float[] apply(Backend b);
  }

  /**
   * Runs {@code body} on one backend. Arrays it allocates are not closed one by one: the CPU's
   * belong to the GC, the GPU's are freed when the shared backend closes after the class.
   */
  private static float[] run(Backend b, Body body) {
    return body.apply(b);
  }
}
