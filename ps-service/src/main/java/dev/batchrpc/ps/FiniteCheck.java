package dev.batchrpc.ps;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;

/**
 * Finds NaN or infinity in little-endian float32 bytes without decoding them to floats.
 *
 * <p>A float is non-finite exactly when its 8 exponent bits are all ones, i.e.
 * {@code (bits & 0x7f800000) == 0x7f800000}. Adding {@code 0x00800000} to the masked exponent
 * carries into the sign bit exactly then ({@code 0x7f800000 + 0x00800000 = 0x80000000}; every
 * other exponent stays below it), so the OR of {@code (bits & 0x7f800000) + 0x00800000} over a
 * chunk is negative iff the chunk holds a non-finite value. That loop has no branch and no
 * data-dependent exit, so the JIT vectorizes it (an OR reduction); the chunk is first copied from
 * the buffer into a small int array (a plain memory copy for a little-endian view on a
 * little-endian machine, and it stays in L1). Only a chunk with a hit is scanned element by
 * element. About memory speed: several GB/s where the previous 8-bytes-at-a-time scan of
 * {@code ByteBuffer.getLong} managed under 1 GB/s on a ResNet-50-sized gradient.
 *
 * <p>Stateless and thread-safe (the scratch array is per call: 16 KB, from the thread's TLAB).
 */
public final class FiniteCheck {

  private static final int EXP_MASK = 0x7f800000;
  private static final int EXP_CARRY = 0x00800000;
  /** Floats per chunk: 16 KB of scratch, well inside L1/L2. */
  private static final int CHUNK = 4096;

  private FiniteCheck() {
  }

  /**
   * The index of the first non-finite float in {@code data} (from its position to its limit, read
   * little-endian whatever the buffer's order), or -1 if all are finite. The buffer's position and
   * order are not changed.
   */
  public static int firstNonFinite(ByteBuffer data) {
    ByteBuffer b = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    IntBuffer ints = b.asIntBuffer();
    int n = ints.remaining();
    int[] chunk = new int[Math.min(CHUNK, n)];
    for (int off = 0; off < n; off += CHUNK) {
      int len = Math.min(CHUNK, n - off);
      ints.get(off, chunk, 0, len);
      int acc = 0;
      for (int j = 0; j < len; j++) {
        acc |= (chunk[j] & EXP_MASK) + EXP_CARRY;
      }
      if (acc < 0) {
        for (int j = 0; j < len; j++) {
          if ((chunk[j] & EXP_MASK) == EXP_MASK) {
            return off + j;
          }
        }
      }
    }
    return -1;
  }
}
