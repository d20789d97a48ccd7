package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.Tensor;
import org.junit.jupiter.api.Test;

class ReLUTest {

  @Test
  void forwardAndBackwardMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("activations")) {
      ReLU relu = new ReLU();
      assertClose(fx + " relu", relu.forward(fx.tensor("x")).data(), fx.floats("relu"));
      assertClose(fx + " relu grad_x", relu.backward(fx.tensor("grad_y")).data(),
          fx.floats("relu_grad_x"));
    }
  }

  @Test
  void forwardAndBackwardAreExactlyTheGreaterThanZeroTestForEveryKindOfFloat() {
    float[] xs = {0f, -0f, 1f, -1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE,
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0xffc00000),
        Float.MIN_NORMAL, 3.5e-39f, -2.5f, 1e30f};
    ReLU relu = new ReLU();
    float[] y = relu.forward(Tensor.of(xs.clone(), xs.length)).data();
    float[] g = new float[xs.length];
    java.util.Arrays.fill(g, 7f);
    float[] gx = relu.backward(Tensor.of(g, xs.length)).data();
    for (int i = 0; i < xs.length; i++) {
      float want = xs[i] > 0f ? xs[i] : 0f;
      assertThat(Float.floatToRawIntBits(y[i])).as("relu(%s)", xs[i]).isEqualTo(Float.floatToRawIntBits(want));
      assertThat(gx[i]).as("grad at %s", xs[i]).isEqualTo(want > 0f ? 7f : 0f);
    }
  }

  @Test
  void backwardBeforeForwardOrWithAnotherShapeFails() {
    ReLU relu = new ReLU();
    assertThatThrownBy(() -> relu.backward(Tensor.zeros(1, 1)))
        .isInstanceOf(IllegalStateException.class);
    relu.forward(Tensor.zeros(2, 2));
    assertThatThrownBy(() -> relu.backward(Tensor.zeros(4)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[4]").hasMessageContaining("[2, 2]");
  }
}
