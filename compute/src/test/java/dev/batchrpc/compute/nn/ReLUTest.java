package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
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
