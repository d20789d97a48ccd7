package dev.batchrpc.compute.random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class InitTest {

  @Test
  void linearInitIsUniformWithinOneOverSqrtFanIn() {
    int in = 16;
    int out = 2000;
    float[] params = new float[2 + out * in + out + 2];
    params[0] = 42f;
    params[params.length - 1] = 43f;
    Init.linear(new Rng(1), params, 2, in, out);
    double bound = 0.25;
    double sum = 0;
    float min = Float.MAX_VALUE;
    float max = -Float.MAX_VALUE;
    for (int i = 2; i < params.length - 2; i++) {
      assertThat(Math.abs(params[i])).isLessThan((float) bound);
      sum += params[i];
      min = Math.min(min, params[i]);
      max = Math.max(max, params[i]);
    }
    int n = out * in + out;
    // U(-b, b): mean 0, sd b / sqrt(3); 5 standard errors
    assertThat(sum / n).isBetween(-5 * bound / Math.sqrt(3 * n), 5 * bound / Math.sqrt(3 * n));
    assertThat(min).isLessThan((float) (-0.99 * bound));
    assertThat(max).isGreaterThan((float) (0.99 * bound));
    // the slice boundaries are respected
    assertThat(params[0]).isEqualTo(42f);
    assertThat(params[params.length - 1]).isEqualTo(43f);
  }

  @Test
  void rejectsASliceOutsideTheArrayWithoutWriting() {
    float[] params = new float[9];
    assertThatThrownBy(() -> Init.linear(new Rng(1), params, 0, 4, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Linear(4, 2)").hasMessageContaining("9");
    assertThat(params).containsOnly(0f);
  }
}
