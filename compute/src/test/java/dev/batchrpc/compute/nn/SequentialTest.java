package dev.batchrpc.compute.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.random.Rng;
import org.junit.jupiter.api.Test;

class SequentialTest {

  @Test
  void mlpLaysOutParametersInTorchOrder() {
    Sequential mlp = Mlp.create(new Rng(1), 784, 256, 10);
    assertThat(mlp.paramCount()).isEqualTo(784 * 256 + 256 + 256 * 10 + 10);
    assertThat(mlp.layers()).hasSize(3);
    assertThat(mlp.layers().get(1)).isInstanceOf(ReLU.class);
    Linear first = (Linear) mlp.layers().get(0);
    Linear second = (Linear) mlp.layers().get(2);
    assertThat(first.offset()).isZero();
    assertThat(second.offset()).isEqualTo(784 * 256 + 256);
    // W2 of the flat vector really is the second layer's weight: changing it changes the output
    Tensor x = Tensor.zeros(1, 784);
    float before = mlp.forward(x).get(0, 3);
    mlp.params()[second.offset() + 256 * 10 + 3] += 1f; // b2[3]
    assertThat(mlp.forward(x).get(0, 3)).isEqualTo(before + 1f);
  }

  @Test
  void backwardMatchesFiniteDifferencesOfTheMseLoss() {
    Rng rng = new Rng(5);
    Sequential mlp = Mlp.create(rng, 6, 5, 3);
    Tensor x = Tensor.zeros(4, 6);
    rng.nextFloats(x.data(), 0, x.size());
    Tensor target = Tensor.zeros(4, 3);
    for (int r = 0; r < 4; r++) {
      target.data()[r * 3 + r % 3] = 1f;
    }
    mlp.zeroGrad();
    Tensor pred = mlp.forward(x);
    mlp.backward(MseLoss.gradient(pred, target));
    float[] analytic = mlp.grads().clone();
    float[] p = mlp.params();
    float h = 1e-2f;
    for (int i = 0; i < p.length; i++) {
      float saved = p[i];
      p[i] = saved + h;
      double up = MseLoss.loss(mlp.forward(x), target);
      p[i] = saved - h;
      double down = MseLoss.loss(mlp.forward(x), target);
      p[i] = saved;
      double numeric = (up - down) / (2 * h);
      // central differences: O(h^2) truncation plus float32 loss rounding / h
      assertThat(analytic[i]).as("d loss / d param[" + i + "]")
          .isCloseTo((float) numeric, org.assertj.core.data.Offset.offset(
              (float) (2e-4 + 1e-2 * Math.abs(numeric))));
    }
  }

  @Test
  void loadParamsRejectsAWrongLengthAndKeepsTheOldValues() {
    Sequential mlp = Mlp.create(new Rng(2), 3, 2);
    float[] before = mlp.params().clone();
    assertThatThrownBy(() -> mlp.loadParams(new float[7]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("7").hasMessageContaining("8");
    assertThat(mlp.params()).containsExactly(before);
    assertThatThrownBy(() -> Mlp.create(new Rng(1), 5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[5]");
  }
}
