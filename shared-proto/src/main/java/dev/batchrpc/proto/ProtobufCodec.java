package dev.batchrpc.proto;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.batchrpc.proto.v1.AgentProto;
import dev.batchrpc.proto.v1.DataProto;
import dev.batchrpc.proto.v1.MembershipProto;
import dev.batchrpc.proto.v1.ObserverProto;
import dev.batchrpc.proto.v1.ParameterServerProto;
import dev.batchrpc.proto.v1.TensorProto;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageCodec;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The one event-bus codec for every protobuf message.
 *
 * <p>Usage: call {@link #register(Vertx)} once at boot (a second call is a no-op), then
 * {@code vertx.eventBus().request(address, message, ProtobufCodec.options())}. Registration also
 * installs an event-bus codec selector that picks this codec for any {@link Message} body, so
 * {@code message.reply(reply)} works without options too.
 *
 * <p>Local delivery passes the message object itself: protobuf messages are immutable, so sender
 * and receiver can share it. Clustered delivery writes
 * {@code [int nameLength][UTF-8 full type name][int bodyLength][message bytes]}; the receiver
 * looks the name up in a registry of parsers. All messages of {@code batchrpc.v1} are
 * registered when this class loads; other types can be added with {@link #registerType(Message)}
 * (on every node that receives them). A clustered body is decoded when the consumer first calls
 * {@code message.body()}, which throws a {@link ProtobufDecodeException} for an unknown type or
 * malformed bytes.
 *
 * <p>Thread-safety: the codec is stateless apart from the type registry, a concurrent map that is
 * only ever added to; it is safe to use from every event loop and worker at once.
 */
public final class ProtobufCodec implements MessageCodec<Message, Message> {

  /** The codec's name on the event bus (and on the wire, between nodes). */
  public static final String NAME = "batchrpc.protobuf";

  /** Longest accepted type name; a longer length prefix means a corrupt frame. */
  private static final int MAX_TYPE_NAME_BYTES = 1024;

  /** The protobuf full names (e.g. {@code batchrpc.v1.UpdateRequest}) to their parsers. */
  private static final Map<String, Parser<? extends Message>> PARSERS = new ConcurrentHashMap<>();

  /** The Vert.x instances this codec is registered with; weak, so closed instances are dropped. */
  private static final Set<Vertx> REGISTERED = Collections.newSetFromMap(new WeakHashMap<>());

  private static final ProtobufCodec INSTANCE = new ProtobufCodec();

  static {
    for (FileDescriptor file : new FileDescriptor[] {TensorProto.getDescriptor(),
        ParameterServerProto.getDescriptor(), AgentProto.getDescriptor(),
        ObserverProto.getDescriptor(), MembershipProto.getDescriptor(), DataProto.getDescriptor()}) {
      for (Descriptor type : file.getMessageTypes()) {
        registerType(defaultInstanceOf(file, type));
      }
    }
  }

  private ProtobufCodec() {
  }

  /**
   * Registers this codec with a Vert.x instance's event bus and installs the codec selector.
   * Idempotent: a second call for the same instance does nothing.
   *
   * <p>The event bus has a single codec selector: a component that needs its own must delegate to
   * {@link #selectCodec(Object)} for protobuf bodies.
   *
   * @param vertx the instance
   */
  public static void register(Vertx vertx) {
    if (vertx == null) {
      throw new IllegalArgumentException("vertx is null");
    }
    // Synchronized: two verticles deploying concurrently must not both register (the event bus
    // throws IllegalStateException on a duplicate codec name).
    synchronized (REGISTERED) {
      if (REGISTERED.contains(vertx)) {
        return;
      }
      vertx.eventBus().registerCodec(INSTANCE);
      vertx.eventBus().codecSelector(ProtobufCodec::selectCodec);
      REGISTERED.add(vertx);
    }
  }

  /**
   * The codec selector installed by {@link #register(Vertx)}.
   *
   * @param body an event-bus body
   * @return {@link #NAME} for a protobuf message, null otherwise (Vert.x then uses its defaults)
   */
  public static String selectCodec(Object body) {
    return body instanceof Message ? NAME : null;
  }

  /**
   * Fresh delivery options naming this codec (DeliveryOptions are mutable: never share one).
   *
   * @return options with the codec name set
   */
  public static DeliveryOptions options() {
    return new DeliveryOptions().setCodecName(NAME);
  }

  /**
   * Fresh delivery options naming this codec, with a reply timeout, also told to the receiver in
   * the {@link Addresses#CALLER_TIMEOUT_HEADER} header (a request that waits in a round longer
   * than its caller does leaves the round).
   *
   * @param sendTimeoutMs how long a request waits for its reply, in milliseconds, &gt; 0
   * @return options with the codec name and timeout set
   */
  public static DeliveryOptions options(long sendTimeoutMs) {
    if (sendTimeoutMs <= 0) {
      throw new IllegalArgumentException("sendTimeoutMs must be > 0, was " + sendTimeoutMs);
    }
    return options().setSendTimeout(sendTimeoutMs)
        .addHeader(Addresses.CALLER_TIMEOUT_HEADER, Long.toString(sendTimeoutMs));
  }

  /**
   * Makes a message type decodable from the clustered wire. The {@code batchrpc.v1} types are
   * registered already; registering a type twice is harmless.
   *
   * @param prototype any instance of the type (usually {@code X.getDefaultInstance()})
   */
  public static void registerType(Message prototype) {
    if (prototype == null) {
      throw new IllegalArgumentException("prototype is null");
    }
    PARSERS.putIfAbsent(prototype.getDescriptorForType().getFullName(),
        prototype.getParserForType());
  }

  /**
   * The registered type names, sorted (for diagnostics and tests).
   *
   * @return the full protobuf names
   */
  public static Set<String> registeredTypes() {
    return Collections.unmodifiableSet(new TreeSet<>(PARSERS.keySet()));
  }

  /** The codec itself, for direct encode/decode in tests of this package. */
  static ProtobufCodec instance() {
    return INSTANCE;
  }

  @Override
  public void encodeToWire(Buffer buffer, Message message) {
    String type = message.getDescriptorForType().getFullName();
    // A sender's own type must be decodable by the receiver; registering it here also lets a
    // same-JVM round trip work for a type nobody registered explicitly.
    PARSERS.putIfAbsent(type, message.getParserForType());
    byte[] name = type.getBytes(StandardCharsets.UTF_8);
    int size = message.getSerializedSize();
    buffer.appendInt(name.length).appendBytes(name).appendInt(size);
    // Writes straight into the buffer: a large bytes field (a gradient) is copied once, not via a
    // temporary byte[] of the whole message.
    try {
      message.writeTo(new BufferOutputStream(buffer));
    } catch (IOException e) {
      // BufferOutputStream never throws; this is unreachable but keeps the contract explicit.
      throw new IllegalStateException("failed to encode " + type, e);
    }
  }

  @Override
  public Message decodeFromWire(int pos, Buffer buffer) {
    int length = buffer.length();
    if (pos < 0 || pos + Integer.BYTES > length) {
      throw new ProtobufDecodeException("truncated protobuf frame: no type-name length at "
          + pos + " in " + length + " bytes", null);
    }
    int nameLength = buffer.getInt(pos);
    pos += Integer.BYTES;
    if (nameLength <= 0 || nameLength > MAX_TYPE_NAME_BYTES
        || pos + nameLength + Integer.BYTES > length) {
      throw new ProtobufDecodeException("corrupt protobuf frame: type-name length " + nameLength
          + " at " + (pos - Integer.BYTES) + " in " + length + " bytes", null);
    }
    String type = buffer.getString(pos, pos + nameLength, StandardCharsets.UTF_8.name());
    pos += nameLength;
    int bodyLength = buffer.getInt(pos);
    pos += Integer.BYTES;
    if (bodyLength < 0 || bodyLength > length - pos) {
      throw new ProtobufDecodeException("corrupt protobuf frame for " + type + ": body length "
          + bodyLength + " but " + (length - pos) + " bytes remain", null);
    }
    Parser<? extends Message> parser = PARSERS.get(type);
    if (parser == null) {
      throw new ProtobufDecodeException("unknown protobuf type '" + type
          + "': register it with ProtobufCodec.registerType on this node (known: "
          + registeredTypes() + ")", null);
    }
    // The array is a fresh copy owned by this message alone, so aliasing is safe: bytes fields
    // (tensor data) become views of it instead of a second copy.
    byte[] bytes = buffer.getBytes(pos, pos + bodyLength);
    try {
      CodedInputStream in = CodedInputStream.newInstance(bytes);
      in.enableAliasing(true);
      return parser.parseFrom(in);
    } catch (InvalidProtocolBufferException e) {
      throw new ProtobufDecodeException("malformed " + type + " (" + bodyLength + " bytes): "
          + e.getMessage(), e);
    }
  }

  /** Returns the message itself: protobuf messages are immutable, so sharing is safe. */
  @Override
  public Message transform(Message message) {
    return message;
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public byte systemCodecID() {
    return -1;
  }

  /** The default instance of a top-level message of a generated {@code java_multiple_files} file. */
  private static Message defaultInstanceOf(FileDescriptor file, Descriptor type) {
    String className = file.getOptions().getJavaPackage() + "." + type.getName();
    try {
      // One reflective lookup per type, at class initialization only.
      Class<?> cls = Class.forName(className, true, ProtobufCodec.class.getClassLoader());
      return (Message) cls.getMethod("getDefaultInstance").invoke(null);
    } catch (ReflectiveOperationException | ClassCastException e) {
      throw new IllegalStateException("generated class " + className + " for "
          + type.getFullName() + " is missing or not a message", e);
    }
  }

  /** Appends to a Vert.x buffer. Confined to one encodeToWire call. */
  private static final class BufferOutputStream extends OutputStream {
    private final Buffer buffer;

    BufferOutputStream(Buffer buffer) {
      this.buffer = buffer;
    }

    @Override
    public void write(int b) {
      buffer.appendByte((byte) b);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      buffer.appendBytes(b, off, len);
    }
  }
}
