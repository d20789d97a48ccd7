package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static dev.batchrpc.compute.Fixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.Tensor;
import org.junit.jupiter.api.Test;

class LinearTest {

  private static Sequential model(Fixtures.Case fx, Linear linear) {
    Sequential s = new Sequential(linear);
    float[] w = fx.floats("weight");
    float[] b = fx.floats("bias");
    float[] p = new float[w.length + b.length];
    System.arraycopy(w, 0, p, 0, w.length);
    System.arraycopy(b, 0, p, w.length, b.length);
    s.loadParams(p);
    return s;
  }

  @Test
  void forwardAndBackwardMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("linear")) {
      int in = fx.integer("in");
      int out = fx.integer("out");
      Linear linear = new Linear(in, out);
      Sequential s = model(fx, linear);
      Tensor y = s.forward(fx.tensor("x"));
      assertThat(y.shape()).containsExactly(fx.shape("y"));
      assertClose(fx + " y", y.data(), fx.floats("y"));
      Tensor gx = s.backward(fx.tensor("grad_y"));
      assertClose(fx + " grad_x", gx.data(), fx.floats("grad_x"));
      assertClose(fx + " grad_weight", slice(s.grads(), 0, out * in), fx.floats("grad_weight"));
      assertClose(fx + " grad_bias", slice(s.grads(), out * in, out), fx.floats("grad_bias"));
    }
  }

  @Test
  void backwardAccumulatesIntoTheFlatGradient() {
    Fixtures.Case fx = Fixtures.load("linear").get(2);
    int in = fx.integer("in");
    int out = fx.integer("out");
    Sequential s = model(fx, new Linear(in, out));
    s.forward(fx.tensor("x"));
    s.backward(fx.tensor("grad_y"));
    s.backward(fx.tensor("grad_y"));
    float[] twice = fx.floats("grad_bias");
    for (int i = 0; i < twice.length; i++) {
      twice[i] *= 2;
    }
    assertClose(fx + " grad_bias after two backwards", slice(s.grads(), out * in, out), twice);
    s.zeroGrad();
    assertThat(s.grads()).containsOnly(0f);
  }

  @Test
  void wrongInputShapeNamesBothShapesAndChangesNothing() {
    Sequential s = new Sequential(new Linear(4, 3));
    float[] before = s.params().clone();
    assertThatThrownBy(() -> s.forward(Tensor.zeros(2, 5)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, 5]").hasMessageContaining("[batch, 4]");
    s.forward(Tensor.zeros(2, 4));
    assertThatThrownBy(() -> s.backward(Tensor.zeros(2, 4)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, 4]").hasMessageContaining("[2, 3]");
    assertThat(s.params()).containsExactly(before);
    assertThat(s.grads()).containsOnly(0f);
  }
}
