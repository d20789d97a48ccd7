package dev.batchrpc.runtime.data;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The data channel's frame: {@code [int32 header length H][int64 payload length L][H bytes
 * DataHeader][L bytes payload]}, lengths big-endian, payload the raw tensor bytes (see
 * {@code data.proto}).
 */
public final class Frames {

  /** Bytes before the header: its length (4) and the payload's (8). */
  public static final int PREFIX_BYTES = 12;
  /** The longest header accepted (ids, shape, a failure text). */
  public static final int MAX_HEADER_BYTES = 64 * 1024;
  /**
   * Heap payloads are written in slices of this size: the transport copies a heap buffer into a
   * direct one before the socket, and a slice at a time it takes a pooled buffer, not one as large
   * as the tensor.
   */
  static final int WRITE_SLICE_BYTES = 1 << 20;

  private Frames() {
  }

  /** The buffers of one frame, in order: prefix and header, then the payload (slices of it). */
  public static List<ByteBuf> encode(DataHeader header, ByteBuffer payload) {
    byte[] h = header.toByteArray();
    if (h.length > MAX_HEADER_BYTES) {
      throw new IllegalArgumentException("data-channel header of " + h.length + " bytes is over the limit of "
          + MAX_HEADER_BYTES);
    }
    int length = payload == null ? 0 : payload.remaining();
    ByteBuf head = Unpooled.buffer(PREFIX_BYTES + h.length);
    head.writeInt(h.length).writeLong(length).writeBytes(h);
    List<ByteBuf> out = new ArrayList<>(2);
    out.add(head);
    if (length > 0) {
      ByteBuffer view = payload.duplicate();
      if (view.isDirect()) {
        out.add(Unpooled.wrappedBuffer(view));
      } else {
        for (int at = view.position(); at < view.limit(); at += WRITE_SLICE_BYTES) {
          out.add(Unpooled.wrappedBuffer(view.duplicate().position(at)
              .limit(Math.min(view.limit(), at + WRITE_SLICE_BYTES))));
        }
      }
    }
    return out;
  }

  /** A reply header that refuses call {@code callId} with {@code code}. */
  public static DataHeader failure(long callId, FailureCode code, String message) {
    String text = message == null ? "" : message;
    if (text.length() > 8192) {
      text = text.substring(0, 8192) + "...";
    }
    return DataHeader.newBuilder().setCallId(callId).setFailureCode(code.code()).setFailureMessage(text).build();
  }

  /** A reply header carrying {@code body}. */
  public static DataHeader reply(long callId, ByteString body) {
    return reply(callId, body, 0, 0);
  }

  /**
   * A reply header carrying {@code body}, its payload in shared-memory reply slot {@code shmSlot}
   * (from 1; 0: none) of {@code shmLength} bytes ({@link ShmSegment}).
   */
  public static DataHeader reply(long callId, ByteString body, int shmSlot, long shmLength) {
    return DataHeader.newBuilder().setCallId(callId).setBody(body).setShmSlot(shmSlot).setShmLength(shmLength)
        .build();
  }
}
