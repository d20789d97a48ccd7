package dev.batchrpc.proto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TensorsTest {

  @Test
  void roundTripKeepsShapeAndEveryBitPattern() {
    // Special values must survive bit-exactly: the wire is raw float32, not a decimal rendering.
    float[] data = {1.5f, -0.0f, Float.NaN, Float.POSITIVE_INFINITY, Float.MIN_VALUE, -3e38f};
    Tensor t = Tensors.of(data, 2, 3);

    assertThat(t.getShapeList()).containsExactly(2L, 3L);
    assertThat(t.getData().size()).isEqualTo(4 * data.length);
    float[] back = Tensors.toFloats(t);
    assertThat(back).hasSameSizeAs(data);
    for (int i = 0; i < data.length; i++) {
      assertThat(Float.floatToRawIntBits(back[i])).as("element %d", i)
          .isEqualTo(Float.floatToRawIntBits(data[i]));
    }
  }

  @Test
  void dataIsLittleEndianRowMajor() {
    float[] data = {1f, 2f, 3f, 4f, 5f, 6f};
    Tensor t = Tensors.of(data, 2, 3);

    // Read the bytes the way numpy's "<f4" does, independently of Tensors' own reader.
    ByteBuffer raw = ByteBuffer.wrap(t.getData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
    for (int row = 0; row < 2; row++) {
      for (int col = 0; col < 3; col++) {
        assertThat(raw.getFloat(4 * (row * 3 + col))).isEqualTo(data[row * 3 + col]);
      }
    }
  }

  @Test
  void largeVectorRoundTrips() {
    int n = 1 << 20;
    float[] data = new float[n];
    Random rnd = new Random(7);
    for (int i = 0; i < n; i++) {
      data[i] = (float) rnd.nextGaussian();
    }
    Tensor t = Tensors.vector(data);
    // Survives serialization, as it would between processes.
    Tensor parsed = parse(t.toByteString());

    assertThat(parsed.getShapeList()).containsExactly((long) n);
    // Arrays.equals, not AssertJ's containsExactly: that one diffs in O(n^2) on a million elements.
    assertThat(Arrays.equals(Tensors.toFloats(parsed), data)).isTrue();
    FloatBuffer view = Tensors.asFloatBuffer(parsed);
    assertThat(view.remaining()).isEqualTo(n);
    assertThat(view.get(n - 1)).isEqualTo(data[n - 1]);
  }

  @Test
  void scalarAndEmptyTensors() {
    Tensor scalar = Tensors.of(new float[] {42f});
    assertThat(scalar.getShapeCount()).isZero();
    assertThat(Tensors.toFloats(scalar)).containsExactly(42f);

    Tensor empty = Tensors.of(new float[0], 0, 4);
    assertThat(empty.getData().isEmpty()).isTrue();
    assertThat(Tensors.toFloats(empty)).isEmpty();
  }

  @Test
  void byteLengthNotMatchingShapeIsRefusedNamingBoth() {
    Tensor bad = Tensor.newBuilder().addShape(3)
        .setData(ByteString.copyFrom(new byte[8])).build();

    assertThatThrownBy(() -> Tensors.toFloats(bad))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[3]")
        .hasMessageContaining("12 bytes")
        .hasMessageContaining("8 bytes");
    assertThatThrownBy(() -> Tensors.asFloatBuffer(bad))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void dataNotMatchingShapeIsRefusedOnBuild() {
    assertThatThrownBy(() -> Tensors.of(new float[5], 2, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[2, 3]")
        .hasMessageContaining("6 elements")
        .hasMessageContaining("5 were given");
    assertThatThrownBy(() -> Tensors.of(new float[0], 2, -1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("negative dimension -1");
  }

  @Test
  void overflowingShapeIsRefused() {
    Tensor huge = Tensor.newBuilder().addShape(1L << 40).addShape(1L << 40).build();
    assertThatThrownBy(() -> Tensors.checkedElementCount(huge))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("too many elements");
    Tensor tooBigForArray = Tensor.newBuilder().addShape(1L << 31).build();
    assertThatThrownBy(() -> Tensors.checkedElementCount(tooBigForArray))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("more than one array can hold");
  }

  @Test
  void readIntoStacksTensorsAndChecksBounds() {
    Tensor a = Tensors.vector(new float[] {1f, 2f});
    Tensor b = Tensors.vector(new float[] {3f, 4f});
    float[] batch = new float[4];

    int off = Tensors.readInto(a, batch, 0);
    Tensors.readInto(b, batch, off);
    assertThat(batch).containsExactly(1f, 2f, 3f, 4f);
    assertThatThrownBy(() -> Tensors.readInto(a, batch, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("length 4 at offset 3");
  }

  @Test
  void requireShapeNamesBothShapes() {
    Tensor state = Tensors.of(new float[6], 2, 3);

    assertThat(Tensors.requireShape("state", state, 2, 3)).isEqualTo(6);
    assertThatThrownBy(() -> Tensors.requireShape("state", state, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("state has shape [2, 3], expected [4]");
    // A proto3 message field that was never set reads as the default (empty) tensor.
    assertThatThrownBy(() -> Tensors.requireShape("gradients", Tensor.getDefaultInstance(), 10))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("gradients has shape [], expected [10]");
  }

  private static Tensor parse(ByteString bytes) {
    try {
      return Tensor.parseFrom(bytes);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new AssertionError(e);
    }
  }
}
