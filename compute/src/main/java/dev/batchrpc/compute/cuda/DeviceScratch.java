package dev.batchrpc.compute.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;

import jcuda.driver.CUdeviceptr;

/**
 * A grow-only device buffer of 4-byte elements (ints or floats) that a backend reuses from call to
 * call, e.g. the actions of a policy round: allocated on first use, replaced by a larger one when a
 * call needs more, freed with the backend. Growing drops the contents.
 *
 * <p>Thread confinement: used by the thread driving its backend, with the backend's context
 * current.
 */
final class DeviceScratch implements AutoCloseable {

  private static final long ELEMENT_BYTES = 4;

  private CUdeviceptr ptr;
  private int capacity;

  /** The buffer, holding at least {@code elements} elements (its contents are undefined). */
  CUdeviceptr atLeast(int elements) {
    if (capacity < elements) {
      if (ptr != null) {
        cuMemFree(ptr);
      }
      ptr = new CUdeviceptr();
      cuMemAlloc(ptr, elements * ELEMENT_BYTES);
      capacity = elements;
    }
    return ptr;
  }

  /** The buffer as last returned by {@link #atLeast}, e.g. to read back what a kernel wrote. */
  CUdeviceptr ptr() {
    return ptr;
  }

  /** Frees the buffer; a later {@link #atLeast} allocates a new one. Idempotent. */
  @Override
  public void close() {
    if (ptr != null) {
      cuMemFree(ptr);
      ptr = null;
      capacity = 0;
    }
  }
}
