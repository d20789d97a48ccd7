package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.Tensor;
import org.junit.jupiter.api.Test;

class SoftmaxTest {

  @Test
  void softmaxAndItsBackwardMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("activations")) {
      Softmax layer = new Softmax();
      Tensor y = layer.forward(fx.tensor("x"));
      assertClose(fx + " softmax", y.data(), fx.floats("softmax"));
      assertClose(fx + " softmax grad_x", layer.backward(fx.tensor("grad_y")).data(),
          fx.floats("softmax_grad_x"));
    }
  }

  @Test
  void logSoftmaxAndItsBackwardMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("activations")) {
      Tensor y = Softmax.logSoftmax(fx.tensor("x"));
      assertClose(fx + " log_softmax", y.data(), fx.floats("log_softmax"));
      assertClose(fx + " log_softmax grad_x",
          Softmax.logSoftmaxBackward(y, fx.tensor("grad_y")).data(),
          fx.floats("log_softmax_grad_x"));
    }
  }

  @Test
  void isStableForHugeLogits() {
    Tensor x = Tensor.of(new float[] {1000f, 999f, -1000f}, 1, 3);
    float[] p = Softmax.softmax(x).data();
    float[] lp = Softmax.logSoftmax(x).data();
    double e = Math.exp(-1);
    assertClose("softmax of large logits", p,
        new float[] {(float) (1 / (1 + e)), (float) (e / (1 + e)), 0f});
    assertClose("log_softmax of large logits", lp,
        new float[] {(float) -Math.log1p(e), (float) (-1 - Math.log1p(e)), -2000f - (float)
            Math.log1p(e)});
  }

  @Test
  void backwardRejectsAMismatchedGradient() {
    Tensor y = Softmax.softmax(Tensor.zeros(2, 3));
    assertThatThrownBy(() -> Softmax.softmaxBackward(y, Tensor.zeros(3, 2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[3, 2]").hasMessageContaining("[2, 3]");
    assertThat(y.data()).containsOnly(1f / 3);
  }
}
