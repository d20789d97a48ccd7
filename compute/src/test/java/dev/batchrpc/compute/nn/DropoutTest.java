package dev.batchrpc.compute.nn;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.random.Rng;
import org.junit.jupiter.api.Test;

class DropoutTest {

  @Test
  void givenScalesMatchTorch() {
    for (Fixtures.Case fx : Fixtures.load("dropout")) {
      Dropout d = new Dropout(fx.number("p"), null);
      assertThat(d.keptScale()).isEqualTo(2.5f);
      Tensor scale = fx.tensor("mask_scale");
      assertThat(scale.data()).containsOnly(0f, d.keptScale());
      assertClose(fx + " y", d.forward(fx.tensor("x"), scale).data(), fx.floats("y"));
      assertClose(fx + " grad_x", d.backward(fx.tensor("grad_y")).data(), fx.floats("grad_x"));
    }
  }

  @Test
  void drawnMasksAreSeededAndKeptForBackward() {
    Tensor x = Tensor.zeros(50, 128);
    java.util.Arrays.fill(x.data(), 1f);
    Dropout a = new Dropout(0.6, new Rng(77));
    Dropout b = new Dropout(0.6, new Rng(77));
    Tensor ya = a.forward(x);
    assertThat(b.forward(x).data()).containsExactly(ya.data());
    // backward reuses the forward's mask: with ones in and out, grad_x equals y
    Tensor ones = x.copy();
    assertThat(a.backward(ones).data()).containsExactly(ya.data());
    assertThat(ya.data()).containsOnly(0f, 2.5f).contains(0f, 2.5f);
  }

  @Test
  void mismatchedScaleIsRejected() {
    Dropout d = new Dropout(0.6, null);
    assertThatThrownBy(() -> d.forward(Tensor.zeros(2, 3), Tensor.zeros(3, 2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, 3]").hasMessageContaining("[3, 2]");
    assertThat(d.lastScale()).isNull();
    assertThatThrownBy(() -> d.forward(Tensor.zeros(1, 1)))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> new Dropout(1.2, null)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1.2");
  }
}
