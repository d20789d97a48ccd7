package dev.batchrpc.runtime.data;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;

/**
 * Cuts a byte stream into frames ({@link Frames}), receiving each payload once, straight from the
 * transport's buffers into a presized buffer of the {@link BufferPool}: no growth, no copy of a
 * whole frame.
 *
 * <p>Limits are checked before anything is buffered: a header or payload length over the limit is
 * a fatal {@link FrameException} (the connection closes: its framing is not to be trusted); the
 * {@link Admission} then sees the header and the payload length and may refuse the frame, whose
 * payload is then skipped unread (the connection goes on). An admitted payload is leased from the
 * pool and handed to the sink, which owns it (and releases it) from then on. A stream cut in the
 * middle of a frame: {@link #close()} releases the partial payload.
 *
 * <p>Thread confinement: one connection's event loop.
 */
public final class FrameReader {

  /** Decides whether a frame may be received. */
  public interface Admission {
    /**
     * Called once the header is read, before any payload byte is.
     *
     * @throws FrameException to refuse the frame (non-fatal: its payload is skipped)
     */
    void admit(DataHeader header, long payloadLength);
  }

  /** Receives whole frames and refusals. */
  public interface Sink {
    /** A whole frame; {@code payload} (null when empty) is leased from the pool and now the sink's. */
    void frame(DataHeader header, ByteBuffer payload);

    /** A refused frame; for a fatal one the reader reads nothing more. */
    void refused(FrameException e);
  }

  /**
   * Where a frame's payload is when it names a shared-memory slot ({@link ShmSegment}): copies it
   * into {@code dst} (presized) or throws a non-fatal {@link FrameException} for that call.
   */
  public interface ShmSource {
    void copy(DataHeader header, ByteBuffer dst);
  }

  private enum State { PREFIX, HEADER, PAYLOAD, SKIP, FAILED }

  private final BufferPool pool;
  private final long maxPayloadBytes;
  private final Admission admission;
  private final Sink sink;
  private final ByteBuffer prefix = ByteBuffer.allocate(Frames.PREFIX_BYTES);
  private State state = State.PREFIX;
  private byte[] header;
  private int headerFill;
  private DataHeader parsed;
  private long payloadLength;
  private long skipLeft;
  private ByteBuffer payload;
  private volatile ShmSource shm;

  /**
   * @param maxPayloadBytes the largest payload accepted; a larger length is fatal
   */
  public FrameReader(BufferPool pool, long maxPayloadBytes, Admission admission, Sink sink) {
    this.pool = pool;
    this.maxPayloadBytes = Math.min(maxPayloadBytes, Integer.MAX_VALUE - 16);
    this.admission = admission;
    this.sink = sink;
  }

  /**
   * From now on, frames that name a shared-memory slot take their payload from {@code source};
   * before (or with null) such a frame is a fatal refusal.
   */
  public void shmSource(ShmSource source) {
    this.shm = source;
  }

  /** Consumes all readable bytes of {@code in} (does not release it). */
  public void feed(ByteBuf in) {
    while (in.isReadable() && state != State.FAILED) {
      switch (state) {
        case PREFIX -> readPrefix(in);
        case HEADER -> readHeader(in);
        case PAYLOAD -> readPayload(in);
        case SKIP -> {
          int n = (int) Math.min(skipLeft, in.readableBytes());
          in.skipBytes(n);
          skipLeft -= n;
          if (skipLeft == 0) {
            state = State.PREFIX;
          }
        }
        default -> throw new IllegalStateException(state.name());
      }
    }
  }

  /**
   * A handler for a socket's raw messages ({@code NetSocketInternal.messageHandler}): feeds each
   * buffer to this reader until it fails, and releases every message.
   */
  public io.vertx.core.Handler<Object> messageHandler() {
    return msg -> {
      try {
        if (msg instanceof ByteBuf b && state != State.FAILED) {
          feed(b);
        }
      } finally {
        io.netty.util.ReferenceCountUtil.release(msg);
      }
    };
  }

  /** Whether the reader stopped on a fatal refusal. */
  public boolean failed() {
    return state == State.FAILED;
  }

  /** Whether a frame is partly read (a stream that ends now was cut in the middle of it). */
  public boolean midFrame() {
    return state != State.PREFIX && state != State.FAILED || prefix.position() > 0;
  }

  /** The stream ended or the connection closed: releases a partial payload. */
  public void close() {
    if (payload != null) {
      pool.release(payload);
      payload = null;
    }
    state = State.FAILED;
  }

  private void readPrefix(ByteBuf in) {
    int n = Math.min(prefix.remaining(), in.readableBytes());
    in.readBytes(prefix.array(), prefix.position(), n);
    prefix.position(prefix.position() + n);
    if (prefix.hasRemaining()) {
      return;
    }
    int h = prefix.getInt(0);
    long l = prefix.getLong(4);
    prefix.clear();
    if (h < 0 || h > Frames.MAX_HEADER_BYTES) {
      fail(new FrameException(FailureCode.TOO_LARGE, "data-channel header length " + h
          + " is out of range (0.." + Frames.MAX_HEADER_BYTES + "): not a batch-rpc data frame", 0, true));
      return;
    }
    if (l < 0 || l > maxPayloadBytes) {
      fail(new FrameException(FailureCode.TOO_LARGE, "data-channel payload of " + l
          + " bytes is over this service's limit of " + maxPayloadBytes + " bytes; refused before buffering",
          0, true));
      return;
    }
    header = new byte[h];
    headerFill = 0;
    payloadLength = l;
    state = State.HEADER;
    if (h == 0) {
      headerDone();
    }
  }

  private void readHeader(ByteBuf in) {
    int n = Math.min(header.length - headerFill, in.readableBytes());
    in.readBytes(header, headerFill, n);
    headerFill += n;
    if (headerFill == header.length) {
      headerDone();
    }
  }

  private void headerDone() {
    try {
      parsed = DataHeader.parseFrom(header);
    } catch (InvalidProtocolBufferException e) {
      fail(new FrameException(FailureCode.BAD_REQUEST, "undecodable data-channel header ("
          + header.length + " bytes): " + e.getMessage(), 0, true));
      return;
    }
    header = null;
    long length = payloadLength;
    ShmSource source = null;
    if (parsed.getShmSlot() != 0) {
      source = shm;
      length = parsed.getShmLength();
      if (source == null || payloadLength != 0) {
        fail(new FrameException(FailureCode.BAD_REQUEST, source == null
            ? "a frame names shared-memory slot " + parsed.getShmSlot() + " but this connection has no segment attached"
            : "a frame names a shared-memory slot and carries " + payloadLength + " payload bytes too",
            parsed.getCallId(), true));
        return;
      }
      if (length < 0 || length > maxPayloadBytes) {
        fail(new FrameException(FailureCode.TOO_LARGE, "shared-memory payload of " + Long.toUnsignedString(length)
            + " bytes is over this service's limit of " + maxPayloadBytes + " bytes", parsed.getCallId(), true));
        return;
      }
    }
    try {
      admission.admit(parsed, length);
    } catch (FrameException e) {
      if (e.fatal()) {
        fail(e);
        return;
      }
      skipLeft = payloadLength;
      state = skipLeft == 0 ? State.PREFIX : State.SKIP;
      sink.refused(e);
      return;
    }
    if (length == 0) {
      deliver(null);
      return;
    }
    if (source != null) {
      ByteBuffer copy = pool.lease((int) length);
      try {
        source.copy(parsed, copy);
      } catch (FrameException e) {
        pool.release(copy);
        parsed = null;
        state = State.PREFIX;
        sink.refused(e);
        return;
      }
      deliver(copy.flip());
      return;
    }
    payload = pool.lease((int) payloadLength);
    state = State.PAYLOAD;
  }

  private void readPayload(ByteBuf in) {
    int n = Math.min(payload.remaining(), in.readableBytes());
    ByteBuffer dst = payload.duplicate();
    dst.limit(dst.position() + n);
    in.readBytes(dst);
    payload.position(payload.position() + n);
    if (!payload.hasRemaining()) {
      ByteBuffer full = payload.flip();
      payload = null;
      deliver(full);
    }
  }

  private void deliver(ByteBuffer full) {
    DataHeader h = parsed;
    parsed = null;
    state = State.PREFIX;
    sink.frame(h, full);
  }

  private void fail(FrameException e) {
    state = State.FAILED;
    sink.refused(e);
  }
}
