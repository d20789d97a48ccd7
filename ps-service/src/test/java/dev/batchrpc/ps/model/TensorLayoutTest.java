package dev.batchrpc.ps.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.proto.v1.TensorSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

class TensorLayoutTest {

  @Test
  void theBuiltInMlpHasNnSequentialNamesAndShapes() {
    TensorLayout l = TensorLayout.mlp(784, 256, 10);
    assertThat(l.entries()).extracting(TensorLayout.Entry::toString)
        .containsExactly("0.weight[256, 784]", "0.bias[256]", "2.weight[10, 256]", "2.bias[10]");
    assertThat(l.parameterCount()).isEqualTo(203_530);
  }

  @Test
  void theIdDependsOnNamesShapesAndOrderOnly() {
    TensorLayout a = TensorLayout.mlp(4, 3, 2);
    assertThat(TensorLayout.mlp(4, 3, 2).id()).isEqualTo(a.id()).hasSize(16);
    assertThat(TensorLayout.mlp(4, 2, 3).id()).isNotEqualTo(a.id());
    List<TensorLayout.Entry> swapped = new java.util.ArrayList<>(a.entries());
    java.util.Collections.swap(swapped, 0, 1);
    assertThat(TensorLayout.of(swapped, Long.MAX_VALUE).id()).isNotEqualTo(a.id());
    // a name that looks like a shape does not collide with a longer shape
    TensorLayout x = TensorLayout.of(List.of(new TensorLayout.Entry("a 1", new long[] {2})), 99);
    TensorLayout y = TensorLayout.of(List.of(new TensorLayout.Entry("a", new long[] {1, 2})), 99);
    assertThat(x.id()).isNotEqualTo(y.id());
  }

  @Test
  void protoRoundTripAndRefusals() {
    TensorLayout l = TensorLayout.mlp(5, 4);
    assertThat(TensorLayout.fromProto(l.toProto(), 100)).isEqualTo(l);
    List<TensorSpec> f16 = List.of(TensorSpec.newBuilder().setName("w").addShape(2).setDtype("F16").build());
    assertThatThrownBy(() -> TensorLayout.fromProto(f16, 100)).hasMessageContaining("dtype F16");
    List<TensorSpec> dup = List.of(TensorSpec.newBuilder().setName("w").addShape(2).build(),
        TensorSpec.newBuilder().setName("w").addShape(3).build());
    assertThatThrownBy(() -> TensorLayout.fromProto(dup, 100)).hasMessageContaining("'w' appears twice");
    assertThatThrownBy(() -> TensorLayout.fromProto(l.toProto(), 23)).hasMessageContaining("more than 23 parameters");
    assertThatThrownBy(() -> TensorLayout.of(List.of(), 1)).hasMessageContaining("at least one tensor");
    assertThatThrownBy(() -> TensorLayout.of(List.of(new TensorLayout.Entry("", new long[] {1})), 1))
        .hasMessageContaining("empty");
    assertThatThrownBy(() -> TensorLayout.of(List.of(new TensorLayout.Entry("x", new long[] {1L << 40, 1L << 40})),
        Long.MAX_VALUE - 1)).hasMessageContaining("more than");
  }
}
