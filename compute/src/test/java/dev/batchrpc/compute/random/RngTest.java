package dev.batchrpc.compute.random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class RngTest {

  @Test
  void matchesXoshiro256StarStarSeededBySplitMix64() {
    // known answers computed by an independent implementation of the documented algorithm
    Rng rng = new Rng(42);
    assertThat(rng.nextLong()).isEqualTo(0x15780b2e0c2ec716L);
    assertThat(rng.nextLong()).isEqualTo(0x6104d9866d113a7eL);
    assertThat(rng.nextLong()).isEqualTo(0xae17533239e499a1L);
  }

  @Test
  void sameSeedSameStreamOtherSeedOtherStream() {
    Rng a = new Rng(7);
    Rng b = new Rng(7);
    Rng c = new Rng(8);
    int same = 0;
    for (int i = 0; i < 1000; i++) {
      long x = a.nextLong();
      assertThat(b.nextLong()).isEqualTo(x);
      if (c.nextLong() == x) {
        same++;
      }
    }
    assertThat(same).isZero();
  }

  @Test
  void nextFloatIsIn01WithTwentyFourBits() {
    Rng rng = new Rng(3);
    double sum = 0;
    int n = 100_000;
    for (int i = 0; i < n; i++) {
      float f = rng.nextFloat();
      assertThat(f).isGreaterThanOrEqualTo(0f).isLessThan(1f);
      // a multiple of 2^-24: scaling back gives an integer below 2^24
      float scaled = f * 0x1.0p24f;
      assertThat(scaled).isEqualTo((float) Math.floor(scaled));
      sum += f;
    }
    // mean of U[0,1): 0.5, standard error 0.289 / sqrt(n) = 0.0009; 5 sigma
    assertThat(sum / n).isBetween(0.5 - 0.0046, 0.5 + 0.0046);
  }

  @Test
  void splitGivesAStreamDisjointFromTheParent() {
    Rng parent = new Rng(5);
    Rng replay = new Rng(5);
    Rng child = parent.split();
    // the child continues the parent's old stream...
    for (int i = 0; i < 100; i++) {
      assertThat(child.nextLong()).isEqualTo(replay.nextLong());
    }
    // ...while the parent has jumped elsewhere
    java.util.Set<Long> childValues = new java.util.HashSet<>();
    Rng child2 = new Rng(5);
    for (int i = 0; i < 10_000; i++) {
      childValues.add(child2.nextLong());
    }
    for (int i = 0; i < 10_000; i++) {
      assertThat(childValues).doesNotContain(parent.nextLong());
    }
  }

  @Test
  void dropoutScalesAreExactlyTheNextFloatComparisonAndLeaveTheStreamWhereItWouldBe() {
    for (double p : new double[] {0.0, 0.1, 0.5, 0.6, 0.9, 1.0, 1.0 / 3}) {
      Rng fast = new Rng(21);
      Rng slow = new Rng(21);
      float[] got = new float[1000];
      fast.dropoutScales(got, 3, 990, p);
      float keep = (float) (1.0 - p);
      float scale = p == 1.0 ? 0f : 1f / keep;
      float[] want = new float[1000];
      for (int i = 3; i < 993; i++) {
        want[i] = slow.nextFloat() < keep ? scale : 0f;
      }
      assertThat(got).as("p = %s", p).containsExactly(want);
      assertThat(fast.nextLong()).isEqualTo(slow.nextLong());
    }
  }

  @Test
  void dropoutScalesKeepAboutOneMinusPAtScaleOneOverOneMinusP() {
    Rng rng = new Rng(9);
    int n = 100_000;
    float[] s = new float[n];
    rng.dropoutScales(s, 0, n, 0.6);
    int kept = 0;
    for (float v : s) {
      assertThat(v).isIn(0f, 2.5f);
      if (v != 0f) {
        kept++;
      }
    }
    // Binomial(n, 0.4): sd = sqrt(n * 0.24) = 155; 5 sigma
    assertThat(kept).isBetween(40_000 - 775, 40_000 + 775);
    float[] none = new float[10];
    rng.dropoutScales(none, 0, 10, 1.0);
    assertThat(none).containsOnly(0f);
    assertThatThrownBy(() -> rng.dropoutScales(s, 0, 1, 1.5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1.5");
    float before = s[n - 1];
    assertThatThrownBy(() -> rng.dropoutScales(s, n - 1, 2, 0.5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(String.valueOf(n));
    assertThat(s[n - 1]).isEqualTo(before);
  }
}
