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
