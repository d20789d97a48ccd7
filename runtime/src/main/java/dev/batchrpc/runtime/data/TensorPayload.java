package dev.batchrpc.runtime.data;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.UnsafeByteOperations;
import dev.batchrpc.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Moves a message's tensor data out of its protobuf body and back: on the data channel a request
 * or reply travels as its body with the tensor's shape but no data, and the data as the frame's
 * payload. A message type carries at most one tensor this way: its first field of type
 * {@code batchrpc.v1.Tensor} (e.g. {@code UpdateRequest.gradients}, {@code ModelReply.parameters}).
 *
 * <p>Thread-safety: stateless apart from a concurrent cache of field lookups.
 */
public final class TensorPayload {

  /** A message without its tensor data, and that data. */
  public record Split(Message body, ByteString data) {
  }

  private static final Map<Descriptor, FieldDescriptor> FIELDS = new ConcurrentHashMap<>();
  private static final FieldDescriptor NONE = Tensor.getDescriptor().getFields().get(0);

  private TensorPayload() {
  }

  /** The message's tensor field, or null when it has none. */
  static FieldDescriptor tensorField(Descriptor type) {
    FieldDescriptor f = FIELDS.computeIfAbsent(type, t -> {
      for (FieldDescriptor fd : t.getFields()) {
        if (fd.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !fd.isRepeated()
            && fd.getMessageType().getFullName().equals(Tensor.getDescriptor().getFullName())) {
          return fd;
        }
      }
      return NONE;
    });
    return f == NONE ? null : f;
  }

  /** Splits {@code message} into its body without tensor data and the data (empty when none). */
  public static Split split(Message message) {
    FieldDescriptor fd = tensorField(message.getDescriptorForType());
    if (fd == null || !message.hasField(fd)) {
      return new Split(message, ByteString.EMPTY);
    }
    Tensor t = (Tensor) message.getField(fd);
    if (t.getData().isEmpty()) {
      return new Split(message, ByteString.EMPTY);
    }
    Message body = message.toBuilder().setField(fd, t.toBuilder().clearData().build()).build();
    return new Split(body, t.getData());
  }

  /**
   * Puts {@code payload} back as the tensor data of {@code body}, without a copy: the message's
   * tensor then reads the payload's bytes, so the payload must stay untouched while the message is
   * in use.
   *
   * @throws IllegalArgumentException if there is a payload but the body has no tensor field set
   */
  @SuppressWarnings("unchecked")
  public static <M extends Message> M join(M body, ByteBuffer payload) {
    if (payload == null || !payload.hasRemaining()) {
      return body;
    }
    FieldDescriptor fd = tensorField(body.getDescriptorForType());
    if (fd == null || !body.hasField(fd)) {
      throw new IllegalArgumentException(body.getDescriptorForType().getFullName()
          + " has no tensor to take a payload of " + payload.remaining() + " bytes");
    }
    Tensor t = (Tensor) body.getField(fd);
    Tensor withData = t.toBuilder().setData(UnsafeByteOperations.unsafeWrap(payload.slice())).build();
    return (M) body.toBuilder().setField(fd, withData).build();
  }

  /** The tensor's data of {@code message} as a read-only view, or null when it has none. */
  public static ByteBuffer view(ByteString data) {
    return data.isEmpty() ? null : data.asReadOnlyByteBuffer();
  }
}
