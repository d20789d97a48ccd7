package dev.batchrpc.proto;

import com.google.protobuf.UnsafeByteOperations;
import dev.batchrpc.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * Converts between {@code float[]} and the wire {@link Tensor} (float32, little-endian, row-major).
 *
 * <p>Every reader checks the invariant {@code data.size() == 4 * product(shape)} first and throws
 * an {@link IllegalArgumentException} naming both the shape and the byte length, so a malformed
 * tensor never reaches the numerics. Stateless and thread-safe.
 */
public final class Tensors {

  /** Bytes per element: float32. */
  public static final int BYTES_PER_ELEMENT = Float.BYTES;

  private Tensors() {
  }

  /**
   * A tensor of the given shape holding a copy of {@code data}.
   *
   * <p>One copy only: the floats are written little-endian into a fresh array that the
   * {@code ByteString} then wraps without copying (safe because nothing else holds that array).
   *
   * @param data the elements in row-major order
   * @param shape the dimensions, outermost first; none for a scalar
   * @return the tensor
   * @throws IllegalArgumentException if a dimension is negative or the element count does not match
   */
  public static Tensor of(float[] data, long... shape) {
    if (data == null) {
      throw new IllegalArgumentException("tensor data is null (shape " + Arrays.toString(shape) + ")");
    }
    long n = elementCount(shape);
    if (n != data.length) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n
          + " elements, but " + data.length + " were given");
    }
    byte[] bytes = new byte[Math.multiplyExact(data.length, BYTES_PER_ELEMENT)];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(data);
    Tensor.Builder b = Tensor.newBuilder().setData(UnsafeByteOperations.unsafeWrap(bytes));
    for (long d : shape) {
      b.addShape(d);
    }
    return b.build();
  }

  /**
   * A one-dimensional tensor of shape {@code [data.length]} (a flat parameter or gradient vector).
   *
   * @param data the elements
   * @return the tensor
   */
  public static Tensor vector(float[] data) {
    if (data == null) {
      throw new IllegalArgumentException("vector data is null");
    }
    return of(data, data.length);
  }

  /**
   * The elements of a tensor as a new array.
   *
   * @param tensor the tensor
   * @return its elements in row-major order
   * @throws IllegalArgumentException if the byte length does not match the shape
   */
  public static float[] toFloats(Tensor tensor) {
    int n = checkedElementCount(tensor);
    float[] out = new float[n];
    view(tensor).get(out);
    return out;
  }

  /**
   * Copies a tensor's elements into {@code dst} starting at {@code offset}: stacks many small
   * tensors (one state per observer, one gradient per trainer) into one batch array without a
   * temporary array per tensor.
   *
   * @param tensor the tensor
   * @param dst the destination
   * @param offset where the first element goes
   * @return the number of elements copied
   * @throws IllegalArgumentException if the byte length does not match the shape, or the elements
   *     do not fit in {@code dst} from {@code offset}
   */
  public static int readInto(Tensor tensor, float[] dst, int offset) {
    int n = checkedElementCount(tensor);
    if (offset < 0 || offset > dst.length - n) {
      throw new IllegalArgumentException("tensor of shape " + tensor.getShapeList() + " (" + n
          + " elements) does not fit in an array of length " + dst.length + " at offset " + offset);
    }
    view(tensor).get(dst, offset, n);
    return n;
  }

  /**
   * A read-only float view of a tensor's bytes, without copying where the {@code ByteString}
   * allows it (a large vector is read in place).
   *
   * @param tensor the tensor
   * @return a view positioned at the first element, limited to the element count
   * @throws IllegalArgumentException if the byte length does not match the shape
   */
  public static FloatBuffer asFloatBuffer(Tensor tensor) {
    checkedElementCount(tensor);
    return view(tensor);
  }

  /** {@link #asFloatBuffer} for a tensor its caller has checked already (no second check). */
  private static FloatBuffer view(Tensor tensor) {
    return tensor.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
  }

  /**
   * Checks a tensor's invariant and returns its element count.
   *
   * @param tensor the tensor
   * @return product(shape), 1 for a scalar
   * @throws IllegalArgumentException if a dimension is negative, the count exceeds an array's
   *     capacity, or {@code data} is not exactly 4 bytes per element
   */
  public static int checkedElementCount(Tensor tensor) {
    if (tensor == null) {
      throw new IllegalArgumentException("tensor is null");
    }
    // product(shape) without a stream or a boxed list (this runs for every small step's state);
    // a negative or overflowing dimension goes to elementCount, which says what is wrong
    long n = 1;
    for (int i = 0, dims = tensor.getShapeCount(); i < dims; i++) {
      long d = tensor.getShape(i);
      if (d < 0 || (d > 0 && n > Long.MAX_VALUE / d)) {
        n = elementCount(tensor.getShapeList().stream().mapToLong(Long::longValue).toArray());
        break;
      }
      n *= d;
    }
    if (n > Integer.MAX_VALUE / BYTES_PER_ELEMENT) {
      throw new IllegalArgumentException("tensor of shape " + tensor.getShapeList() + " has " + n
          + " elements, more than one array can hold");
    }
    long expectedBytes = n * BYTES_PER_ELEMENT;
    if (tensor.getData().size() != expectedBytes) {
      throw new IllegalArgumentException("tensor of shape " + tensor.getShapeList() + " needs "
          + expectedBytes + " bytes (" + n + " float32), but data has " + tensor.getData().size()
          + " bytes");
    }
    return (int) n;
  }

  /**
   * Checks that a tensor has exactly the expected shape (and a consistent byte length).
   *
   * @param what what the tensor is, for the message (e.g. {@code "gradients"})
   * @param tensor the tensor
   * @param expected the expected dimensions
   * @return the element count
   * @throws IllegalArgumentException naming both shapes when they differ
   */
  public static int requireShape(String what, Tensor tensor, long... expected) {
    if (tensor == null) {
      throw new IllegalArgumentException(what + " is missing (expected shape "
          + Arrays.toString(expected) + ")");
    }
    long[] actual = tensor.getShapeList().stream().mapToLong(Long::longValue).toArray();
    if (!Arrays.equals(actual, expected)) {
      throw new IllegalArgumentException(what + " has shape " + Arrays.toString(actual)
          + ", expected " + Arrays.toString(expected));
    }
    return checkedElementCount(tensor);
  }

  /**
   * The number of elements of a shape: the product of its dimensions, 1 for the empty shape.
   *
   * @param shape the dimensions
   * @return the product
   * @throws IllegalArgumentException if a dimension is negative or the product overflows a long
   */
  public static long elementCount(long... shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension " + d + " in shape "
            + Arrays.toString(shape));
      }
      try {
        n = Math.multiplyExact(n, d);
      } catch (ArithmeticException e) {
        throw new IllegalArgumentException("shape " + Arrays.toString(shape)
            + " has too many elements", e);
      }
    }
    return n;
  }
}
