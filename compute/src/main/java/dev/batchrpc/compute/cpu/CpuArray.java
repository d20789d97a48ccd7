package dev.batchrpc.compute.cpu;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;

/**
 * A {@link DeviceArray} in host memory: a wrapper around a {@code float[]} that callers may read and
 * write directly through {@link #data()} (zero-copy).
 *
 * <p>Not thread-safe; used by the thread that drives its backend.
 */
public final class CpuArray implements DeviceArray {

  private final CpuBackend backend;
  private final int length;
  private float[] data;

  CpuArray(CpuBackend backend, float[] data) {
    this.backend = backend;
    this.data = data;
    this.length = data.length;
  }

  /** An array over {@code data} (not copied), owned by {@link CpuBackend#shared()}. */
  public static CpuArray wrap(float[] data) {
    return new CpuArray(CpuBackend.shared(), data);
  }

  /**
   * The backing array itself (zero-copy).
   *
   * @throws IllegalStateException after {@link #close()}
   */
  public float[] data() {
    float[] d = data;
    if (d == null) {
      throw new IllegalStateException("CpuArray of length " + length + " used after close()");
    }
    return d;
  }

  /** True once {@link #close()} was called. */
  public boolean isClosed() {
    return data == null;
  }

  @Override
  public int length() {
    return length;
  }

  @Override
  public Backend backend() {
    return backend;
  }

  /** Drops the reference to the data (the GC frees it); later use throws. Idempotent. */
  @Override
  public void close() {
    data = null;
  }

  @Override
  public String toString() {
    return "CpuArray[" + length + (data == null ? ", closed]" : "]");
  }
}
