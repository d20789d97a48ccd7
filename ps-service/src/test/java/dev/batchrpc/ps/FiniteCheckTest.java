package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class FiniteCheckTest {

  private static ByteBuffer le(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b;
  }

  @Test
  void findsTheFirstNonFiniteAtEveryPositionAndParity() {
    float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
        Float.intBitsToFloat(0x7fc00001), Float.intBitsToFloat(0xff800001)};
    for (int len = 1; len <= 9; len++) {
      for (int at = 0; at < len; at++) {
        for (float b : bad) {
          float[] v = new float[len];
          java.util.Arrays.fill(v, 1.5f);
          v[at] = b;
          if (at + 1 < len) {
            v[len - 1] = Float.NaN; // a later one must not win
          }
          assertThat(FiniteCheck.firstNonFinite(le(v))).as("len %d at %d value %s", len, at, b).isEqualTo(at);
        }
      }
    }
  }

  @Test
  void acceptsEveryFiniteExtremeAndHonoursThePosition() {
    float[] ok = {0f, -0f, Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, Float.MIN_NORMAL,
        -Float.MIN_VALUE, 1e-30f, 3.4e38f};
    assertThat(FiniteCheck.firstNonFinite(le(ok))).isEqualTo(-1);
    assertThat(FiniteCheck.firstNonFinite(ByteBuffer.allocate(0))).isEqualTo(-1);
    ByteBuffer b = le(new float[] {Float.NaN, 1f, Float.POSITIVE_INFINITY});
    b.position(4);
    assertThat(FiniteCheck.firstNonFinite(b)).isEqualTo(1);
    assertThat(b.position()).isEqualTo(4);
    // a big-endian buffer is still read as little-endian wire bytes
    ByteBuffer be = le(new float[] {1f, Float.NaN}).order(ByteOrder.BIG_ENDIAN);
    assertThat(FiniteCheck.firstNonFinite(be)).isEqualTo(1);
  }

  @Test
  void findsTheFirstNonFiniteAcrossChunksAtAnOffset() {
    // chunk boundaries at multiples of 4096 floats; the buffer starts mid-array (a ByteString view)
    int n = 3 * 4096 + 7;
    for (int at : new int[] {0, 4095, 4096, 4097, 2 * 4096, n - 1}) {
      float[] v = new float[n + 2];
      java.util.Arrays.fill(v, -2.5e-3f);
      v[1 + at] = Float.NEGATIVE_INFINITY;
      v[n + 1] = Float.NaN; // beyond the limit: not part of the data
      ByteBuffer b = le(v);
      b.position(4).limit(4 + 4 * n);
      assertThat(FiniteCheck.firstNonFinite(b)).as("at %d", at).isEqualTo(at);
      assertThat(b.position()).isEqualTo(4);
      v[1 + at] = 1f;
      ByteBuffer ok = le(v);
      ok.position(4).limit(4 + 4 * n);
      assertThat(FiniteCheck.firstNonFinite(ok)).isEqualTo(-1);
    }
  }
}
