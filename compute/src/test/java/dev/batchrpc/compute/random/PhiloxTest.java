package dev.batchrpc.compute.random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PhiloxTest {

  // Random123's kat_vectors (philox4x32 10): counter[4], key[2] -> output[4]; also checked
  // against a C implementation of the paper's algorithm.
  @Test
  void matchesRandom123KnownAnswers() {
    assertThat(Philox.apply(new int[] {0, 0, 0, 0}, new int[] {0, 0}))
        .containsExactly(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    assertThat(Philox.apply(new int[] {-1, -1, -1, -1}, new int[] {-1, -1}))
        .containsExactly(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    assertThat(Philox.apply(new int[] {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
        new int[] {0xa4093822, 0x299f31d0}))
        .containsExactly(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
  }

  @Test
  void writesAtTheOffsetAndTouchesNothingElse() {
    int[] out = {7, 7, 7, 7, 7, 7};
    Philox.apply(0, 0, 0, 0, 0, 0, out, 1);
    assertThat(out).containsExactly(7, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8, 7);
  }

  @Test
  void oneCounterBitChangesAboutHalfTheOutputBits() {
    // avalanche: flipping any one of the 128 counter bits flips ~64 of the 128 output bits
    int[] key = {0x12345678, 0x9abcdef0};
    int[] base = Philox.apply(new int[] {1, 2, 3, 4}, key);
    long flipped = 0;
    for (int bit = 0; bit < 128; bit++) {
      int[] c = {1, 2, 3, 4};
      c[bit / 32] ^= 1 << (bit % 32);
      int[] o = Philox.apply(c, key);
      for (int w = 0; w < 4; w++) {
        flipped += Integer.bitCount(o[w] ^ base[w]);
      }
    }
    // 128 x 128 fair coins: mean 8192, sd 64; 5 sigma
    assertThat(flipped).isBetween(8192L - 320, 8192L + 320);
  }

  @Test
  void rejectsWrongWordCounts() {
    assertThatThrownBy(() -> Philox.apply(new int[3], new int[2]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("4-word");
    assertThatThrownBy(() -> Philox.apply(new int[4], new int[1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2-word");
  }
}
