package dev.batchrpc.compute.cuda;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;
import jcuda.driver.CUdeviceptr;

/**
 * A float32 array in GPU memory, owned by one {@link CudaBackend}. Closing it frees the memory.
 *
 * <p>Thread confinement: used only by the thread driving its backend.
 */
public final class CudaArray implements DeviceArray {

  private final CudaBackend owner;
  private final int length;
  private CUdeviceptr ptr;

  CudaArray(CudaBackend owner, CUdeviceptr ptr, int length) {
    this.owner = owner;
    this.ptr = ptr;
    this.length = length;
  }

  @Override
  public int length() {
    return length;
  }

  @Override
  public Backend backend() {
    return owner;
  }

  /** True once closed (or once its backend closed). */
  public boolean isClosed() {
    return ptr == null;
  }

  /** The device pointer; null for a zero-length array. Package-private: kernels only. */
  CUdeviceptr ptr() {
    return ptr;
  }

  /** Drops the pointer without freeing it: the backend freed it (or is freeing it). */
  void invalidate() {
    ptr = null;
  }

  @Override
  public void close() {
    if (ptr != null) {
      owner.free(this);
      ptr = null;
    }
  }

  @Override
  public String toString() {
    return "CudaArray[" + length + (ptr == null ? ", closed]" : "]");
  }
}
