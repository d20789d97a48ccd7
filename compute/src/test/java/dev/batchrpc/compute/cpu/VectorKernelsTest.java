package dev.batchrpc.compute.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The parameter server's Vector API loops give the scalar loops' bits exactly (the same IEEE
 * operations per element: torch's average, then {@code buf.mul_(m).add_(g)} and the fused update),
 * at every length, the tails after the last whole vector included.
 */
class VectorKernelsTest {

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 15, 16, 17, 33, 4095, 4097, 203_530})
  void theVectorLoopsGiveTheScalarLoopsBits(int length) {
    assumeTrue(JavaGemm.VECTOR, "the jdk.incubator.vector module is not in this JVM");
    SplittableRandom rnd = new SplittableRandom(length);
    float[][] rows = new float[5][length];
    for (float[] row : rows) {
      for (int j = 0; j < length; j++) {
        // a wide range of magnitudes, so that the order and the rounding of each step matter
        row[j] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(-6, 6)));
      }
    }
    float[] p0 = new float[length];
    float[] buf0 = new float[length];
    for (int j = 0; j < length; j++) {
      p0[j] = (float) rnd.nextGaussian();
      buf0[j] = (float) rnd.nextGaussian();
    }
    float lr = 0.0123f;
    float momentum = 0.9f;

    // scalar: the sum in row order, the division, then each SGD variant
    float[] gScalar = rows[0].clone();
    for (int r = 1; r < rows.length; r++) {
      for (int j = 0; j < length; j++) {
        gScalar[j] += rows[r][j];
      }
    }
    for (int j = 0; j < length; j++) {
      gScalar[j] /= rows.length;
    }
    float[] gVector = rows[0].clone();
    for (int r = 1; r < rows.length; r++) {
      VectorKernels.addInto(gVector, 0, rows[r], 0, length);
    }
    VectorKernels.divide(gVector, 0, length, rows.length);
    assertThat(gVector).containsExactly(gScalar);

    for (int variant = 0; variant < 3; variant++) {
      float[] pS = p0.clone();
      float[] bS = variant == 0 ? null : buf0.clone();
      float[] pV = p0.clone();
      float[] bV = variant == 0 ? null : buf0.clone();
      boolean first = variant == 1;
      for (int j = 0; j < length; j++) {
        float b = variant == 0 ? gScalar[j] : first ? gScalar[j] : bS[j] * momentum + gScalar[j];
        if (bS != null) {
          bS[j] = b;
        }
        pS[j] = Math.fma(b, -lr, pS[j]);
      }
      VectorKernels.sgd(pV, gScalar, bV, lr, variant == 0 ? 0f : momentum, first, 0, length);
      assertThat(pV).as("variant %d", variant).containsExactly(pS);
      if (bS != null) {
        assertThat(bV).containsExactly(bS);
      }
    }
    // an offset range leaves the rest alone
    if (length > 20) {
      float[] g = gScalar.clone();
      VectorKernels.divide(g, 3, length - 2, 7);
      assertThat(g[2]).isEqualTo(gScalar[2]);
      assertThat(g[length - 1]).isEqualTo(gScalar[length - 1]);
      assertThat(g[3]).isEqualTo(gScalar[3] / 7f);
    }
  }
}
