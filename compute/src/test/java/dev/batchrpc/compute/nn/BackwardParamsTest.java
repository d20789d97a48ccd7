package dev.batchrpc.compute.nn;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.random.Rng;
import org.junit.jupiter.api.Test;

/** {@link Sequential#backwardParams}: the parameter gradients of {@link Sequential#backward}, exactly. */
class BackwardParamsTest {

  @Test
  void sameParameterGradientsAsBackwardWithoutTheFirstInputGradient() {
    for (int[] sizes : new int[][] {{784, 256, 10}, {5, 3}, {7, 6, 5, 4}}) {
      Sequential full = Mlp.create(new Rng(3), sizes);
      Sequential lean = Mlp.create(new Rng(3), sizes);
      Rng data = new Rng(9);
      for (int step = 0; step < 3; step++) {
        int batch = 4 + step;
        float[] x = new float[batch * sizes[0]];
        data.nextFloats(x, 0, x.length);
        float[] gy = new float[batch * sizes[sizes.length - 1]];
        data.nextFloats(gy, 0, gy.length);
        full.zeroGrad();
        lean.zeroGrad();
        full.forward(Tensor.of(x, batch, sizes[0]));
        lean.forward(Tensor.of(x.clone(), batch, sizes[0]));
        Tensor gradX = full.backward(Tensor.of(gy, batch, sizes[sizes.length - 1]));
        lean.backwardParams(Tensor.of(gy.clone(), batch, sizes[sizes.length - 1]));
        assertThat(gradX.dim(1)).isEqualTo(sizes[0]);
        assertThat(lean.grads()).as(java.util.Arrays.toString(sizes) + " step " + step)
            .containsExactly(full.grads());
      }
    }
  }

  private static int[] bits(float[] f) {
    int[] b = new int[f.length];
    for (int i = 0; i < f.length; i++) {
      b[i] = Float.floatToRawIntBits(f[i]);
    }
    return b;
  }

  /** Runs forward then either zeroGrad + backwardParams or backwardParamsFresh. */
  private static void step(Sequential m, float[] x, int batch, int in, float[] gy, int out,
                           boolean fresh) {
    m.forward(Tensor.of(x.clone(), batch, in));
    if (fresh) {
      // whatever was there must not matter
      java.util.Arrays.fill(m.grads(), Float.NaN);
      m.backwardParamsFresh(Tensor.of(gy.clone(), batch, out));
    } else {
      m.zeroGrad();
      m.backwardParams(Tensor.of(gy.clone(), batch, out));
    }
  }

  @Test
  void freshGradientsAreBitwiseZeroGradThenBackwardParams() {
    for (int[] sizes : new int[][] {{784, 256, 10}, {5, 3}, {7, 6, 5, 4}, {20, 33, 1}}) {
      Sequential zeroed = Mlp.create(new Rng(3), sizes);
      Sequential fresh = Mlp.create(new Rng(3), sizes);
      Rng data = new Rng(9);
      int in = sizes[0];
      int out = sizes[sizes.length - 1];
      for (int batch : new int[] {1, 4, 20}) {
        float[] x = new float[batch * in];
        data.nextFloats(x, 0, x.length);
        float[] gy = new float[batch * out];
        data.nextFloats(gy, 0, gy.length);
        gy[0] = -0f; // a zero gradient of either sign
        step(zeroed, x, batch, in, gy, out, false);
        step(fresh, x, batch, in, gy, out, true);
        assertThat(bits(fresh.grads())).as(java.util.Arrays.toString(sizes) + " batch " + batch)
            .containsExactly(bits(zeroed.grads()));
      }
    }
  }

  @Test
  void freshGradientsWithOtherLayersAndALayerUsedTwice() {
    Linear shared = new Linear(4, 4);
    Layer[][] models = {
        {new Linear(6, 4), new ReLU(), new Dropout(0.25, new Rng(1)), new Linear(4, 3),
            new Softmax()},
        {new Linear(6, 4), new ReLU(), shared, new ReLU(), shared, new Linear(4, 3)}};
    Layer[][] twins = {
        {new Linear(6, 4), new ReLU(), new Dropout(0.25, new Rng(1)), new Linear(4, 3),
            new Softmax()},
        {new Linear(6, 4), new ReLU(), null, new ReLU(), null, new Linear(4, 3)}};
    Linear twinShared = new Linear(4, 4);
    twins[1][2] = twinShared;
    twins[1][4] = twinShared;
    for (int i = 0; i < models.length; i++) {
      Sequential a = new Sequential(models[i]).init(new Rng(4));
      Sequential b = new Sequential(twins[i]).init(new Rng(4));
      float[] x = new float[5 * 6];
      new Rng(6).nextFloats(x, 0, x.length);
      float[] gy = new float[5 * 3];
      new Rng(7).nextFloats(gy, 0, gy.length);
      step(a, x, 5, 6, gy, 3, false);
      step(b, x, 5, 6, gy, 3, true);
      assertThat(bits(b.grads())).as("model " + i).containsExactly(bits(a.grads()));
    }
  }

  @Test
  void linearBackwardParamsOnlyReturnsNoInputGradient() {
    Sequential m = Mlp.create(new Rng(1), 3, 2);
    Linear l = (Linear) m.layers().get(0);
    l.forward(Tensor.of(new float[] {1, 2, 3}, 1, 3));
    assertThat(l.backwardParamsOnly(Tensor.of(new float[] {1, -1}, 1, 2))).isNull();
    // grad_W = grad_y^T x, grad_b = grad_y
    assertThat(m.grads()).containsExactly(1, 2, 3, -1, -2, -3, 1, -1);
  }
}
