package dev.batchrpc.ps;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Finds NaN or infinity in little-endian float32 bytes without decoding them to floats.
 *
 * <p>A float is non-finite exactly when its 8 exponent bits are all ones, i.e.
 * {@code (bits & 0x7f800000) == 0x7f800000}. The scan reads 8 bytes at a time and tests both
 * floats of the long at once, which the JIT turns into a tight loop (about memory speed); only a
 * hit is located exactly. Stateless and thread-safe.
 */
public final class FiniteCheck {

  private static final long EXP_MASK_2 = 0x7f800000_7f800000L;
  private static final long EXP_LOW = 0x7f800000L;
  private static final long EXP_HIGH = 0x7f800000_00000000L;

  private FiniteCheck() {
  }

  /**
   * The index of the first non-finite float in {@code data} (from its position to its limit, read
   * little-endian whatever the buffer's order), or -1 if all are finite. The buffer's position and
   * order are not changed.
   */
  public static int firstNonFinite(ByteBuffer data) {
    ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int base = b.position();
    int bytes = b.remaining() & ~3;
    int i = 0;
    for (; i + 8 <= bytes; i += 8) {
      long v = b.getLong(base + i) & EXP_MASK_2;
      if ((v & EXP_LOW) == EXP_LOW || (v & EXP_HIGH) == EXP_HIGH) {
        return locate(b, base, i, Math.min(bytes, i + 8));
      }
    }
    return locate(b, base, i, bytes);
  }

  private static int locate(ByteBuffer b, int base, int from, int to) {
    for (int j = from; j + 4 <= to; j += 4) {
      if ((b.getInt(base + j) & 0x7f800000) == 0x7f800000) {
        return j / 4;
      }
    }
    return -1;
  }
}
