package dev.batchrpc.compute.random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class KeyedDrawsTest {

  private static final float P = 0.6f;
  private static final int HIDDEN = 128;

  private static float[] row(long seed, long step, int observer) {
    float[] out = new float[HIDDEN];
    KeyedDraws.dropoutScales(seed, step, observer, P, out, 0, HIDDEN);
    return out;
  }

  /**
   * The documented layout, pinned by words computed in C (an independent Philox4x32-10 and the
   * class comment's counter/key layout): seed 0x0123456789ABCDEF, step 0x100000003, observer 5.
   * This is what the CUDA kernel must reproduce.
   */
  @Test
  void layoutMatchesTheCReference() {
    long seed = 0x0123456789ABCDEFL;
    long step = 0x100000003L;
    int observer = 5;
    int[] js = {0, 1, 31, 32, 95, 127, 128, 200};
    int[] words = {0x1ad282b1, 0x63ed6933, 0xf43cbe9e, 0x12ad3ef3, 0x24b9167e, 0x18f30565,
        0xbb049722, 0x33504659};
    float[] out = new float[256];
    KeyedDraws.dropoutScales(seed, step, observer, P, out, 0, 256);
    for (int i = 0; i < js.length; i++) {
      float expected = KeyedDraws.toUniform(words[i]) < 0.4f ? 2.5f : 0f;
      assertThat(out[js[i]]).as("unit %d (word %08x)", js[i], words[i]).isEqualTo(expected);
      // and the raw word through Philox with the documented counter
      int[] o = Philox.apply(new int[] {3, 1, observer, KeyedDraws.counterBlock(js[i])},
          new int[] {0x89ABCDEF, 0x01234567});
      assertThat(o[KeyedDraws.counterWord(js[i])]).isEqualTo(words[i]);
    }
    assertThat(KeyedDraws.uniform(seed, step, observer))
        .isEqualTo((0xf6251cfe >>> 8) * 0x1.0p-24f);
    assertThat(KeyedDraws.uniform(42, 0, 0)).isEqualTo((0x99cf4594 >>> 8) * 0x1.0p-24f);
    assertThat(KeyedDraws.uniform(42, 7, -1)).isEqualTo((0xbe3b1d45 >>> 8) * 0x1.0p-24f);
  }

  @Test
  void counterBlockAndWordCoverEveryUnitOnce() {
    Set<Long> seen = new HashSet<>();
    for (int j = 0; j < 1000; j++) {
      int b = KeyedDraws.counterBlock(j);
      int w = KeyedDraws.counterWord(j);
      assertThat(w).isBetween(0, 3);
      assertThat(seen.add(((long) b << 2) | w)).as("unit %d", j).isTrue();
      assertThat(j).isEqualTo(128 * (b / 32) + 32 * w + b % 32);
    }
    assertThat(KeyedDraws.counterBlock(Integer.MAX_VALUE)).isLessThan(1 << 29)
        .isNotEqualTo(KeyedDraws.SAMPLE_BLOCK);
  }

  @Test
  void sameKeySameDraws() {
    for (int obs = 0; obs < 20; obs++) {
      assertThat(row(99, 12, obs)).containsExactly(row(99, 12, obs));
      assertThat(KeyedDraws.uniform(99, 12, obs)).isEqualTo(KeyedDraws.uniform(99, 12, obs));
    }
  }

  @Test
  void valuesAreExactlyZeroOrTheKeptScale() {
    assertThat(KeyedDraws.keepThreshold(0.6f)).isEqualTo(0.4f);
    assertThat(KeyedDraws.keptValue(0.6f)).isEqualTo(2.5f);
    for (float p : new float[] {0f, 0.1f, 0.5f, 0.6f, 0.9f, 1f}) {
      float keep = KeyedDraws.keepThreshold(p);
      float scale = KeyedDraws.keptValue(p);
      assertThat(keep).isEqualTo((float) (1.0 - Double.parseDouble(Float.toString(p))));
      assertThat(scale).isEqualTo(p == 1f ? 0f : 1f / keep);
      float[] out = new float[300];
      KeyedDraws.dropoutScales(1, 2, 3, p, out, 0, out.length);
      for (float v : out) {
        assertThat(v == 0f || v == scale).as("p=%s value %s", p, v).isTrue();
      }
      if (p == 0f) {
        assertThat(out).containsOnly(1f);
      }
      if (p == 1f) {
        assertThat(out).containsOnly(0f);
      }
    }
  }

  @Test
  void keepRateIsOneMinusPWithinFiveSigma() {
    for (float p : new float[] {0.1f, 0.6f}) {
      long kept = 0;
      long n = 0;
      float[] out = new float[HIDDEN];
      for (int step = 0; step < 50; step++) {
        for (int obs = 0; obs < 200; obs++) {
          KeyedDraws.dropoutScales(7, step, obs, p, out, 0, HIDDEN);
          for (float v : out) {
            kept += v != 0f ? 1 : 0;
          }
          n += HIDDEN;
        }
      }
      double q = 1.0 - p;
      double sigma = Math.sqrt(n * q * (1 - q));
      assertThat((double) kept).as("kept of %d at p=%s", n, p)
          .isBetween(n * q - 5 * sigma, n * q + 5 * sigma);
    }
  }

  @Test
  void everyUnitPositionIsKeptAtTheSameRate() {
    // a layout bug (e.g. a word reused across units) would skew single positions
    int rows = 20_000;
    int[] kept = new int[HIDDEN];
    float[] out = new float[HIDDEN];
    for (int r = 0; r < rows; r++) {
      KeyedDraws.dropoutScales(11, r / 100, r % 100, P, out, 0, HIDDEN);
      for (int j = 0; j < HIDDEN; j++) {
        kept[j] += out[j] != 0f ? 1 : 0;
      }
    }
    double sigma = Math.sqrt(rows * 0.4 * 0.6);
    for (int j = 0; j < HIDDEN; j++) {
      assertThat((double) kept[j]).as("unit %d", j)
          .isBetween(rows * 0.4 - 5 * sigma, rows * 0.4 + 5 * sigma);
    }
  }

  @Test
  void noTwoObserversStepsOrSeedsShareDraws() {
    Set<String> rows = new HashSet<>();
    Set<Float> uniforms = new HashSet<>();
    int n = 0;
    for (long seed : new long[] {0, 1, 1L << 32}) {
      for (long step : new long[] {0, 1, 2, 1L << 32, -1}) {
        for (int obs : new int[] {0, 1, 2, 31, 32, 1000, -1}) {
          assertThat(rows.add(java.util.Arrays.toString(row(seed, step, obs))))
              .as("row of seed %d step %d observer %d", seed, step, obs).isTrue();
          uniforms.add(KeyedDraws.uniform(seed, step, obs));
          n++;
        }
      }
    }
    // 105 uniforms of 24 bits: a collision has probability ~3e-4
    assertThat(uniforms).hasSize(n);
  }

  @Test
  void neighbouringRowsAreUncorrelated() {
    // keep indicators of observer i and i+1 (same step), and of step t and t+1 (same observer):
    // correlation ~ N(0, 1/n); 5 sigma
    int n = 0;
    double sxy = 0;
    double syz = 0;
    float[] a = new float[HIDDEN];
    float[] b = new float[HIDDEN];
    float[] c = new float[HIDDEN];
    for (int obs = 0; obs < 300; obs++) {
      KeyedDraws.dropoutScales(5, 10, obs, P, a, 0, HIDDEN);
      KeyedDraws.dropoutScales(5, 10, obs + 1, P, b, 0, HIDDEN);
      KeyedDraws.dropoutScales(5, 11, obs, P, c, 0, HIDDEN);
      for (int j = 0; j < HIDDEN; j++) {
        double x = (a[j] != 0f ? 1 : 0) - 0.4;
        double y = (b[j] != 0f ? 1 : 0) - 0.4;
        double z = (c[j] != 0f ? 1 : 0) - 0.4;
        sxy += x * y;
        syz += x * z;
        n++;
      }
    }
    double var = 0.24;
    assertThat(sxy / n / var).isBetween(-5 / Math.sqrt(n), 5 / Math.sqrt(n));
    assertThat(syz / n / var).isBetween(-5 / Math.sqrt(n), 5 / Math.sqrt(n));
  }

  @Test
  void uniformsAreIn01OnTheTwentyFourBitGrid() {
    double sum = 0;
    int n = 50_000;
    for (int i = 0; i < n; i++) {
      float u = KeyedDraws.uniform(3, i / 500, i % 500);
      assertThat(u).isGreaterThanOrEqualTo(0f).isLessThan(1f);
      float scaled = u * 0x1.0p24f;
      assertThat(scaled).isEqualTo((float) Math.floor(scaled));
      sum += u;
    }
    assertThat(sum / n).isBetween(0.5 - 5 * 0.2887 / Math.sqrt(n), 0.5 + 5 * 0.2887 / Math.sqrt(n));
    assertThat(KeyedDraws.toUniform(-1)).isEqualTo(1f - 0x1.0p-24f);
    assertThat(KeyedDraws.toUniform(0xFF)).isZero();
  }

  @Test
  void partialGroupsAndOffsetsWriteOnlyTheirRange() {
    float[] full = new float[300];
    KeyedDraws.dropoutScales(8, 9, 10, P, full, 0, 300);
    for (int hidden : new int[] {0, 1, 31, 33, 100, 129, 300}) {
      float[] out = new float[hidden + 4];
      java.util.Arrays.fill(out, -1f);
      KeyedDraws.dropoutScales(8, 9, 10, P, out, 2, hidden);
      assertThat(out[0]).isEqualTo(-1f);
      assertThat(out[1]).isEqualTo(-1f);
      assertThat(out[hidden + 2]).isEqualTo(-1f);
      assertThat(out[hidden + 3]).isEqualTo(-1f);
      for (int j = 0; j < hidden; j++) {
        // unit j's draw does not depend on the row length
        assertThat(out[2 + j]).as("hidden %d unit %d", hidden, j).isEqualTo(full[j]);
      }
    }
  }

  @Test
  void rejectsBadProbabilityAndRange() {
    float[] out = new float[10];
    for (float p : new float[] {-0.1f, 1.5f, Float.NaN}) {
      assertThatThrownBy(() -> KeyedDraws.dropoutScales(0, 0, 0, p, out, 0, 10))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[0, 1]");
    }
    assertThatThrownBy(() -> KeyedDraws.dropoutScales(0, 0, 0, P, out, 5, 6))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[5, 11)");
    assertThatThrownBy(() -> KeyedDraws.dropoutScales(0, 0, 0, P, out, 0, -1))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
