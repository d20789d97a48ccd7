package dev.batchrpc.ps;

import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.runtime.data.BufferPool;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A round's reply whose parameters are in a pooled off-heap buffer, reference-counted so that the
 * buffer serves a later round once nobody reads it: the server holds one reference while the reply
 * is its latest model, and each data-channel write of it one more until the write is done.
 *
 * <p>A reply that went anywhere the server cannot follow (the event bus, gRPC: they may hold the
 * message object as long as they like) is <em>escaped</em>: its buffer is never reused, the garbage
 * collector frees it. A reference can only be taken while the count is above zero
 * ({@link #retain()}), so a buffer handed back to the pool is never read again through this reply.
 *
 * <p>Thread-safety: the count is atomic, {@link #escape()} a volatile write before the release that
 * could hand the buffer back.
 */
final class PooledReply {

  private final ModelReply reply;
  private final ByteBuffer buffer;
  private final BufferPool pool;
  private final AtomicInteger refs;
  private volatile boolean escaped;

  /**
   * @param references the references the creator holds (the server's one plus the data-channel
   *     writes already promised)
   */
  PooledReply(ModelReply reply, ByteBuffer buffer, BufferPool pool, int references) {
    this.reply = reply;
    this.buffer = buffer;
    this.pool = pool;
    this.refs = new AtomicInteger(references);
  }

  ModelReply reply() {
    return reply;
  }

  /** Takes one more reference, unless the count already reached zero (the buffer may be reused). */
  boolean retain() {
    while (true) {
      int r = refs.get();
      if (r <= 0) {
        return false;
      }
      if (refs.compareAndSet(r, r + 1)) {
        return true;
      }
    }
  }

  /** Marks the reply as escaped: its buffer is never reused. Call while holding a reference. */
  void escape() {
    escaped = true;
  }

  /** Gives a reference back; the last one returns the buffer to the pool unless escaped. */
  void release() {
    int r = refs.decrementAndGet();
    if (r == 0 && !escaped) {
      pool.release(buffer);
    } else if (r < 0) {
      throw new IllegalStateException("reply of model version " + reply.getModelVersion() + " released too often");
    }
  }

  /** The references held now (for tests). */
  int references() {
    return refs.get();
  }
}
