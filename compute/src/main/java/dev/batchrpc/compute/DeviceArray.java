package dev.batchrpc.compute;

/**
 * A float32 array owned by one {@link Backend}: host memory for the CPU backend, device memory for
 * the CUDA backend. Closing it frees the memory; using it after close is an error.
 *
 * <p>Not thread-safe: an array is used by the thread that drives its backend (an ordered worker).
 */
public interface DeviceArray extends AutoCloseable {

  /** Number of float elements. */
  int length();

  /** The backend that owns this array; arrays of one backend never mix with another's. */
  Backend backend();

  /** Frees the memory. Idempotent. */
  @Override
  void close();
}
