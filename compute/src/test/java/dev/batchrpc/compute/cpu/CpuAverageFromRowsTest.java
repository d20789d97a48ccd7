package dev.batchrpc.compute.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.random.Rng;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

/**
 * The buffer-reading {@code averageAndSgd} (the CPU parameter server's fused round) against the
 * staged one: bit for bit, over several rounds (first step and momentum steps), for lengths that
 * are and are not multiples of the block and of any vector width.
 */
class CpuAverageFromRowsTest {

  /**
   * A little-endian, read-only float view of {@code g} inside a larger byte array at an odd-ish
   * offset, as a protobuf {@code ByteString} aliasing a decoded message presents a gradient.
   */
  private static FloatBuffer wire(float[] g) {
    int lead = 12;
    ByteBuffer b = ByteBuffer.allocate(lead + 4 * g.length + 8).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < g.length; i++) {
      b.putFloat(lead + 4 * i, g[i]);
    }
    ByteBuffer view = b.asReadOnlyBuffer();
    view.position(lead).limit(lead + 4 * g.length);
    return view.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
  }

  @Test
  void equalsStagedAverageAndSgdBitForBit() {
    CpuBackend cpu = new CpuBackend();
    Rng rng = new Rng(42);
    for (int length : new int[] {1, 3, 7, 8, 17, 4095, 4096, 4097, 3 * 4096 + 5, 20_011}) {
      for (int count : new int[] {1, 2, 5}) {
        for (float momentum : new float[] {0f, 0.9f}) {
          float[] p0 = new float[length];
          rng.nextFloats(p0, 0, length);
          CpuArray pStaged = cpu.wrap(p0.clone());
          CpuArray pFused = cpu.wrap(p0.clone());
          DeviceArray bufStaged = cpu.allocate(length);
          DeviceArray bufFused = cpu.allocate(length);
          DeviceArray gStaged = cpu.allocate(length);
          DeviceArray gFused = cpu.allocate(length);
          DeviceArray stacked = cpu.allocate(count * length);
          for (int round = 0; round < 3; round++) {
            FloatBuffer[] rows = new FloatBuffer[count];
            for (int r = 0; r < count; r++) {
              float[] g = new float[length];
              rng.nextFloats(g, 0, length);
              for (int i = 0; i < length; i++) {
                // a spread of magnitudes and signs, so rounding differences would show
                g[i] = (g[i] - 0.5f) * (float) Math.pow(10, (i % 7) - 3);
              }
              cpu.copyIn(g, 0, stacked, r * length, length);
              rows[r] = wire(g);
            }
            int[] positions = new int[count];
            for (int r = 0; r < count; r++) {
              positions[r] = rows[r].position();
            }
            boolean first = round == 0;
            cpu.averageAndSgd(stacked, count, gStaged, pStaged, bufStaged, 0.01f, momentum, first);
            cpu.averageAndSgd(rows, gFused, pFused, bufFused, 0.01f, momentum, first);
            String what = "length " + length + ", count " + count + ", momentum " + momentum + ", round " + round;
            assertThat(cpu.download(gFused)).as(what + " average").containsExactly(cpu.download(gStaged));
            assertThat(pFused.data()).as(what + " params").containsExactly(pStaged.data());
            assertThat(cpu.download(bufFused)).as(what + " momentum").containsExactly(cpu.download(bufStaged));
            for (int r = 0; r < count; r++) {
              assertThat(rows[r].position()).as("row positions are not moved").isEqualTo(positions[r]);
            }
          }
        }
      }
    }
  }

  @Test
  void aRowOfTheWrongLengthChangesNothing() {
    CpuBackend cpu = new CpuBackend();
    float[] p0 = {1f, 2f, 3f};
    CpuArray p = cpu.wrap(p0.clone());
    DeviceArray buf = cpu.allocate(3);
    DeviceArray g = cpu.allocate(3);
    FloatBuffer[] rows = {FloatBuffer.wrap(new float[] {1, 1, 1}), FloatBuffer.wrap(new float[] {1, 1})};
    assertThatThrownBy(() -> cpu.averageAndSgd(rows, g, p, buf, 0.1f, 0.9f, true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("row 1 has 2 elements")
        .hasMessageContaining("3");
    assertThatThrownBy(() -> cpu.averageAndSgd(new FloatBuffer[0], g, p, buf, 0.1f, 0.9f, true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least one");
    assertThat(p.data()).containsExactly(p0);
  }
}
