package dev.batchrpc.runtime.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Off-heap buffers for frame payloads, reused across rounds: a round's gradients (and a trainer's
 * model replies) have the same size every time, so after the first round every payload is received
 * into a buffer that already exists: no allocation, no zeroing, no garbage.
 *
 * <p>{@link #lease(int)} hands out a direct buffer of exactly the asked size (position 0, limit =
 * size, little-endian); {@link #release(ByteBuffer)} gives it back once nobody reads it any more.
 * Free buffers are kept up to {@code maxRetainedBytes}; beyond that a released buffer is left to the
 * garbage collector. Buffers in use are bounded by the caller (the data server refuses frames over
 * its in-flight budget before leasing).
 *
 * <p>Thread-safety: every method may be called from any thread (a small lock around the free list).
 */
public final class BufferPool {

  private final long maxRetainedBytes;
  private final ArrayDeque<ByteBuffer> free = new ArrayDeque<>();
  private long retainedBytes;
  private final AtomicLong allocations = new AtomicLong();
  private final AtomicLong leased = new AtomicLong();

  /** @param maxRetainedBytes how many bytes of free buffers to keep for reuse, &gt;= 0 */
  public BufferPool(long maxRetainedBytes) {
    if (maxRetainedBytes < 0) {
      throw new IllegalArgumentException("maxRetainedBytes must be >= 0, got " + maxRetainedBytes);
    }
    this.maxRetainedBytes = maxRetainedBytes;
  }

  /**
   * A direct buffer of {@code size} bytes (position 0, limit and capacity {@code size}), reused when
   * a free one of that size exists. Its content is whatever it last held.
   */
  public ByteBuffer lease(int size) {
    if (size < 0) {
      throw new IllegalArgumentException("size must be >= 0, got " + size);
    }
    leased.incrementAndGet();
    synchronized (free) {
      for (var it = free.iterator(); it.hasNext(); ) {
        ByteBuffer b = it.next();
        if (b.capacity() == size) {
          it.remove();
          retainedBytes -= size;
          return b.clear().order(ByteOrder.LITTLE_ENDIAN);
        }
      }
    }
    allocations.incrementAndGet();
    return ByteBuffer.allocateDirect(size).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Gives a leased buffer back; the caller and everyone it shared the buffer with must not read it
   * again. Kept for reuse while the retained bytes stay under the limit (older free buffers of
   * other sizes are dropped first), else left to the garbage collector. {@code null} is ignored.
   */
  public void release(ByteBuffer buffer) {
    if (buffer == null || !buffer.isDirect()) {
      return;
    }
    int size = buffer.capacity();
    if (size > maxRetainedBytes) {
      return;
    }
    synchronized (free) {
      for (ByteBuffer b : free) {
        if (b == buffer) {
          return; // released twice: keep one entry, or two leases would share it
        }
      }
      while (retainedBytes + size > maxRetainedBytes && !free.isEmpty()) {
        retainedBytes -= free.removeFirst().capacity();
      }
      free.addLast(buffer);
      retainedBytes += size;
    }
  }

  /** How many buffers were allocated (not reused) so far. */
  public long allocations() {
    return allocations.get();
  }

  /** How many leases were handed out so far. */
  public long leases() {
    return leased.get();
  }

  /** The bytes of free buffers kept now. */
  public long retainedBytes() {
    synchronized (free) {
      return retainedBytes;
    }
  }
}
