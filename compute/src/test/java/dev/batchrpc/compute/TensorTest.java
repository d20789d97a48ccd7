package dev.batchrpc.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TensorTest {

  @Test
  void ofWrapsWithoutCopyAndIndexesRowMajor() {
    float[] d = {1, 2, 3, 4, 5, 6};
    Tensor t = Tensor.of(d, 2, 3);
    assertThat(t.data()).isSameAs(d);
    assertThat(t.get(1, 0)).isEqualTo(4f);
    assertThat(t.reshape(3, 2).get(1, 0)).isEqualTo(3f);
    assertThat(t.size()).isEqualTo(6);
    assertThat(t.rank()).isEqualTo(2);
  }

  @Test
  void ofRejectsAShapeThatDoesNotFitTheData() {
    assertThatThrownBy(() -> Tensor.of(new float[5], 2, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, 3]").hasMessageContaining("6").hasMessageContaining("5");
    assertThatThrownBy(() -> Tensor.zeros(2, -1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, -1]");
  }

  @Test
  void requireShapeNamesBothShapes() {
    Tensor t = Tensor.zeros(3, 5);
    assertThat(t.requireShape("x", -1, 5)).isSameAs(t);
    assertThatThrownBy(() -> t.requireShape("x", -1, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("x has shape [3, 5] but [*, 4] is required");
    assertThatThrownBy(() -> Tensor.requireSameShape("a", t, "b", Tensor.zeros(5, 3)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[3, 5]").hasMessageContaining("[5, 3]");
  }

  @Test
  void copyIsDeepAndShapeIsDefensive() {
    Tensor t = Tensor.of(new float[] {1, 2}, 2);
    Tensor c = t.copy();
    c.data()[0] = 9;
    assertThat(t.data()[0]).isEqualTo(1f);
    t.shape()[0] = 7;
    assertThat(t.dim(0)).isEqualTo(2);
    assertThatThrownBy(() -> Tensor.zeros(2, 2).get(2, 0))
        .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("[2, 2]");
  }
}
