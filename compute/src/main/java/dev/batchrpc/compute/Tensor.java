package dev.batchrpc.compute;

import java.util.Arrays;

/**
 * A float32 host tensor: a shape and a row-major {@code float[]} of exactly the product of the
 * shape's dimensions.
 *
 * <p>{@link #data()} is the live backing array (zero-copy), so a tensor is only as immutable as its
 * users make it. The shape itself never changes; {@link #reshape} returns a view over the same data.
 * Not thread-safe.
 */
public final class Tensor {

  private final int[] shape;
  private final float[] data;

  private Tensor(int[] shape, float[] data) {
    this.shape = shape;
    this.data = data;
  }

  /**
   * A tensor over {@code data} (not copied) with the given shape.
   *
   * @throws IllegalArgumentException if a dimension is negative or the shape's element count differs
   *     from {@code data.length}
   */
  public static Tensor of(float[] data, int... shape) {
    int[] s = shape.clone();
    long n = count(s);
    if (n != data.length) {
      throw new IllegalArgumentException("shape " + Arrays.toString(s) + " holds " + n
          + " elements but the data has " + data.length);
    }
    return new Tensor(s, data);
  }

  /** A zero-filled tensor of the given shape. */
  public static Tensor zeros(int... shape) {
    int[] s = shape.clone();
    long n = count(s);
    if (n > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("shape " + Arrays.toString(s) + " is too large: " + n
          + " elements");
    }
    return new Tensor(s, new float[(int) n]);
  }

  private static long count(int[] shape) {
    long n = 1;
    for (int d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
      }
      n *= d;
    }
    return n;
  }

  /** A copy of the shape. */
  public int[] shape() {
    return shape.clone();
  }

  /** Number of dimensions. */
  public int rank() {
    return shape.length;
  }

  /** Size of dimension {@code i}. */
  public int dim(int i) {
    return shape[i];
  }

  /** Number of elements. */
  public int size() {
    return data.length;
  }

  /** The backing row-major array (not a copy). */
  public float[] data() {
    return data;
  }

  /** The element at row {@code r}, column {@code c} of a rank-2 tensor. */
  public float get(int r, int c) {
    if (shape.length != 2 || r < 0 || r >= shape[0] || c < 0 || c >= shape[1]) {
      throw new IndexOutOfBoundsException("index [" + r + ", " + c + "] outside shape "
          + shapeString());
    }
    return data[r * shape[1] + c];
  }

  /** A view with another shape of the same element count, sharing the data. */
  public Tensor reshape(int... newShape) {
    return of(data, newShape);
  }

  /** A deep copy. */
  public Tensor copy() {
    return new Tensor(shape.clone(), data.clone());
  }

  /** The shape as text, e.g. {@code [3, 4]}. */
  public String shapeString() {
    return Arrays.toString(shape);
  }

  /**
   * Checks that this tensor has exactly {@code expected}; a negative expected dimension matches any
   * size.
   *
   * @param what the argument's name, used in the message
   * @return this tensor
   * @throws IllegalArgumentException naming both shapes
   */
  public Tensor requireShape(String what, int... expected) {
    boolean ok = expected.length == shape.length;
    for (int i = 0; ok && i < expected.length; i++) {
      ok = expected[i] < 0 || expected[i] == shape[i];
    }
    if (!ok) {
      StringBuilder want = new StringBuilder("[");
      for (int i = 0; i < expected.length; i++) {
        want.append(i == 0 ? "" : ", ").append(expected[i] < 0 ? "*" : String.valueOf(expected[i]));
      }
      throw new IllegalArgumentException(what + " has shape " + shapeString() + " but "
          + want.append(']') + " is required");
    }
    return this;
  }

  /**
   * Checks that two tensors have the same shape.
   *
   * @throws IllegalArgumentException naming both shapes
   */
  public static void requireSameShape(String whatA, Tensor a, String whatB, Tensor b) {
    if (!Arrays.equals(a.shape, b.shape)) {
      throw new IllegalArgumentException(whatA + " shape " + a.shapeString() + " differs from "
          + whatB + " shape " + b.shapeString());
    }
  }

  @Override
  public String toString() {
    return "Tensor" + shapeString();
  }
}
