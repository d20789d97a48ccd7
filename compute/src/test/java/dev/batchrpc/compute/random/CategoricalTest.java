package dev.batchrpc.compute.random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CategoricalTest {

  @Test
  void inverseCdfPicksTheSmallestIndexWhoseCumulativeSumExceedsU() {
    float[] p = {0.25f, 0.5f, 0.25f};
    assertThat(Categorical.sample(p, 0f)).isEqualTo(0);
    assertThat(Categorical.sample(p, 0.2499f)).isEqualTo(0);
    assertThat(Categorical.sample(p, 0.25f)).isEqualTo(1);  // u < 0.25 is false
    assertThat(Categorical.sample(p, 0.7499f)).isEqualTo(1);
    assertThat(Categorical.sample(p, 0.75f)).isEqualTo(2);
    // a row whose sum rounds below u still yields a valid (the last) category
    assertThat(Categorical.sample(new float[] {0.3f, 0.3f}, 0.9f)).isEqualTo(1);
    // an offset row
    assertThat(Categorical.sample(new float[] {9f, 1f, 0f}, 1, 2, 0.5f)).isEqualTo(0);
  }

  @Test
  void samplingFrequenciesMatchTheProbabilities() {
    float[] p = {0.1f, 0.6f, 0.3f};
    Rng rng = new Rng(2024);
    int n = 200_000;
    int[] counts = new int[3];
    for (int i = 0; i < n; i++) {
      counts[Categorical.sample(p, rng.nextFloat())]++;
    }
    for (int c = 0; c < 3; c++) {
      double sd = Math.sqrt(n * p[c] * (1 - p[c]));
      // 5 standard deviations of Binomial(n, p_c)
      assertThat((double) counts[c]).as("count of category " + c)
          .isBetween(n * p[c] - 5 * sd, n * p[c] + 5 * sd);
    }
  }

  @Test
  void logProbIsTheLogOfTheChosenProbability() {
    float[] p = {0.2f, 0.8f};
    assertThat(Categorical.logProb(p, 0, 2, 1)).isEqualTo((float) Math.log(0.8f));
    assertThatThrownBy(() -> Categorical.logProb(p, 0, 2, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("action 2");
    assertThatThrownBy(() -> Categorical.sample(p, 1, 2, 0.5f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[1, 3)");
  }
}
