package dev.batchrpc.compute;

/**
 * The argument checks every {@link Backend} runs before it touches data (made by
 * {@link AbstractBackend}), so that every backend refuses the same calls with the same messages (a
 * failing call changes nothing).
 */
public final class Checks {

  private Checks() {
  }

  /** A [count x length] matrix of rows stored in an array of {@code stackedLength} floats. */
  public static void checkStacked(int stackedLength, int count, int length) {
    if (count < 1 || length < 0) {
      throw new IllegalArgumentException("need count >= 1 and length >= 0: count=" + count
          + ", length=" + length);
    }
    requireMatrix("stacked", count, length, stackedLength);
  }

  /** {@code [off, off + len)} lies inside an array of {@code arrayLength} floats. */
  public static void checkRange(String what, int arrayLength, int off, int len) {
    if (off < 0 || len < 0 || (long) off + len > arrayLength) {
      throw new IllegalArgumentException(what + " range [" + off + ", " + ((long) off + len)
          + ") is outside its length " + arrayLength);
    }
  }

  /** An array of {@code actual} floats holds at least {@code needed}. */
  public static void requireAtLeast(String what, int actual, long needed) {
    if (actual < needed) {
      throw new IllegalArgumentException(what + " needs " + needed + " floats but its array has "
          + actual);
    }
  }

  /**
   * {@link #requireAtLeast} for a {@code [rows x cols]} matrix named {@code what}, whose message is
   * built only when the check fails (these checks run on every small step's forward pass).
   */
  public static void requireMatrix(String what, int rows, int cols, int actual) {
    if (actual < (long) rows * cols) {
      requireAtLeast(what + " [" + rows + " x " + cols + "]", actual, (long) rows * cols);
    }
  }

  /** {@link #requireAtLeast} for a {@code [n]} vector named {@code what}, its message built only on failure. */
  public static void requireVector(String what, int n, int actual) {
    if (actual < n) {
      requireAtLeast(what + " [" + n + "]", actual, n);
    }
  }

  /** Two arrays have the same length. */
  public static void requireSameLength(String whatA, int a, String whatB, int b) {
    if (a != b) {
      throw new IllegalArgumentException(whatA + " length " + a + " differs from " + whatB
          + " length " + b);
    }
  }

  /** A hyper-parameter is finite and not negative. */
  public static void requireFiniteNonNegative(String what, float value) {
    if (!(value >= 0f) || Float.isInfinite(value)) {
      throw new IllegalArgumentException(what + " must be finite and >= 0, got " + value);
    }
  }

  /** Adam's step counts from 1, lr and eps are finite and >= 0, the betas lie in [0, 1). */
  public static void checkAdamHyperParameters(long step, float lr, float beta1, float beta2, float eps) {
    if (step < 1) {
      throw new IllegalArgumentException("adam step counts from 1, got " + step);
    }
    requireFiniteNonNegative("adam lr", lr);
    requireFiniteNonNegative("adam eps", eps);
    if (!(beta1 >= 0f && beta1 < 1f) || !(beta2 >= 0f && beta2 < 1f)) {
      throw new IllegalArgumentException("adam betas must be in [0, 1): beta1=" + beta1 + ", beta2="
          + beta2);
    }
  }

  /**
   * The policy's flat parameters: W1 [hidden x in], b1, W2 [out x hidden], b2.
   *
   * @return their count
   */
  public static long checkPolicyParams(int length, int in, int hidden, int out) {
    long paramCount = (long) hidden * in + hidden + (long) out * hidden + out;
    if (length != paramCount) {
      throw new IllegalArgumentException("policyAct params has length " + length + " but a "
          + in + "-" + hidden + "-" + out + " policy has " + paramCount + " parameters");
    }
    return paramCount;
  }

  /** A {@code policyAct} uniform outside [0, 1): the first such row and its value. */
  public static IllegalArgumentException uniformOutOfRange(int row, float value) {
    return new IllegalArgumentException("policyAct uniforms[" + row + "] = " + value
        + " is not in [0, 1)");
  }
}
