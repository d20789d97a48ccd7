package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.Tensor;
import org.junit.jupiter.api.Test;

class MseLossTest {

  @Test
  void lossAndGradientMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("mse")) {
      Tensor pred = fx.tensor("pred");
      Tensor target = fx.tensor("target");
      assertClose(fx + " loss", MseLoss.loss(pred, target), fx.number("loss"), Fixtures.ATOL,
          Fixtures.RTOL);
      assertClose(fx + " grad_pred", MseLoss.gradient(pred, target).data(),
          fx.floats("grad_pred"));
    }
  }

  @Test
  void mismatchedShapesAreRejected() {
    assertThatThrownBy(() -> MseLoss.loss(Tensor.zeros(2, 3), Tensor.zeros(2, 4)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, 3]").hasMessageContaining("[2, 4]");
    assertThatThrownBy(() -> MseLoss.gradient(Tensor.zeros(0, 3), Tensor.zeros(0, 3)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
  }
}
