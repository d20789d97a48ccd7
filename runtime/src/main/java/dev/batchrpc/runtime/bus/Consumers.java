package dev.batchrpc.runtime.bus;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageConsumer;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Registers the services' request/reply consumers: one protobuf request type in, the service's
 * future out, every failure a {@code message.fail(code, text)}.
 *
 * <p>Why: a consumer declared as {@code consumer<UpdateRequest>(...)} that receives another body
 * (a {@code Buffer}, a {@code String}, a {@code JsonObject}, another message type) throws a
 * {@code ClassCastException} inside Vert.x and never replies, so the sender waits for its whole
 * timeout; a clustered body whose bytes are corrupt throws from {@code message.body()} the same
 * way. {@link #serve} answers every such request at once instead:
 * <ul>
 *   <li>a body of the expected type passes;</li>
 *   <li>a {@link Buffer} or {@code byte[]} body is parsed with the type's parser (raw protobuf
 *       bytes are a valid request); malformed bytes are {@link FailureCode#BAD_REQUEST}
 *       {@code "malformed <Type> protobuf: ..."};</li>
 *   <li>any other body, {@code null} included, is {@code BAD_REQUEST} naming the expected type;</li>
 *   <li>a body that cannot be decoded ({@link dev.batchrpc.proto.ProtobufDecodeException} from a
 *       corrupt clustered frame) is {@code BAD_REQUEST} with the decoder's message;</li>
 *   <li>a request over {@code maxBytes} serialized (the same limit as the service's gRPC maximum
 *       message size) is {@link FailureCode#TOO_LARGE}, before the service sees it.</li>
 * </ul>
 * The service's own refusals (a failed future, or an exception it throws) are mapped with
 * {@link RpcException#replyFailure}.
 *
 * <p>Threads: the handler runs on the consumer's context like any consumer; nothing here is shared
 * or mutable.
 */
public final class Consumers {

  /**
   * The default request size limit, 4 MiB: Vert.x gRPC servers' usual limit for services whose
   * requests are small (an action request, an episode request).
   */
  public static final long DEFAULT_MAX_BYTES = 4L << 20;

  private Consumers() {
  }

  /**
   * {@link #serve(EventBus, String, Message, long, Function)} with {@link #DEFAULT_MAX_BYTES}.
   *
   * @param bus the event bus
   * @param address the address to consume
   * @param prototype the request type's default instance (e.g. {@code X.getDefaultInstance()})
   * @param service the service: a request to the future of its reply (a protobuf message)
   * @param <Q> the request type
   * @return the registered consumer (its {@code completion()} is the registration)
   */
  public static <Q extends Message> MessageConsumer<Object> serve(EventBus bus, String address, Q prototype,
      Function<? super Q, ? extends Future<?>> service) {
    return serve(bus, address, prototype, DEFAULT_MAX_BYTES, service);
  }

  /**
   * Registers a consumer at {@code address} that decodes each body as {@code Q} (see the class
   * comment), calls {@code service} and replies with its result or its failure's code.
   *
   * @param bus the event bus
   * @param address the address to consume
   * @param prototype the request type's default instance (e.g. {@code X.getDefaultInstance()})
   * @param maxBytes the largest serialized request accepted, &gt; 0
   * @param service the service: a request to the future of its reply (a protobuf message)
   * @param <Q> the request type
   * @return the registered consumer (its {@code completion()} is the registration)
   */
  public static <Q extends Message> MessageConsumer<Object> serve(EventBus bus, String address, Q prototype,
      long maxBytes, Function<? super Q, ? extends Future<?>> service) {
    Objects.requireNonNull(service, "service");
    return serveMessages(bus, address, prototype, maxBytes, (q, msg) -> service.apply(q));
  }

  /**
   * As {@link #serve(EventBus, String, Message, long, Function)}, for a service that also reads
   * the event-bus message (its headers, e.g. the sender's node in a registration).
   *
   * @param bus the event bus
   * @param address the address to consume
   * @param prototype the request type's default instance
   * @param maxBytes the largest serialized request accepted, &gt; 0
   * @param service the service: a request and its message to the future of its reply
   * @param <Q> the request type
   * @return the registered consumer (its {@code completion()} is the registration)
   */
  public static <Q extends Message> MessageConsumer<Object> serveMessages(EventBus bus, String address,
      Q prototype, long maxBytes,
      BiFunction<? super Q, io.vertx.core.eventbus.Message<Object>, ? extends Future<?>> service) {
    Objects.requireNonNull(bus, "bus");
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(prototype, "prototype");
    Objects.requireNonNull(service, "service");
    if (maxBytes <= 0) {
      throw new IllegalArgumentException("maxBytes must be > 0, was " + maxBytes);
    }
    return bus.consumer(address, msg -> {
      Future<?> reply;
      try {
        reply = service.apply(decode(address, msg.body(), prototype, maxBytes), msg);
      } catch (RuntimeException e) {
        // A refused body, an undecodable clustered frame, or a service that threw instead of
        // returning a failed future: the sender hears about it now, not at its timeout.
        RpcException.replyFailure(msg, e);
        return;
      }
      reply.onComplete(ar -> {
        if (ar.succeeded()) {
          msg.reply(ar.result());
        } else {
          RpcException.replyFailure(msg, ar.cause());
        }
      });
    });
  }

  /**
   * Calls a service that may park the request (in an open round) with the requester's give-up
   * signal: a future completing once the requester's timeout (its
   * {@link dev.batchrpc.proto.Addresses#CALLER_TIMEOUT_HEADER}, set by
   * {@code ProtobufCodec.options(ms)}) has passed since the message arrived, null when the
   * message has no such header. The timer is cancelled when the service answers.
   *
   * @param vertx the receiving node's Vert.x (for the timer)
   * @param msg the request's message
   * @param service the service, given the give-up signal (or null)
   * @param <T> the reply type
   * @return the service's answer
   */
  public static <T> Future<T> untilCallerGivesUp(io.vertx.core.Vertx vertx, io.vertx.core.eventbus.Message<?> msg,
      Function<Future<Void>, Future<T>> service) {
    String header = msg.headers().get(dev.batchrpc.proto.Addresses.CALLER_TIMEOUT_HEADER);
    long ms;
    try {
      ms = header == null ? -1 : Long.parseLong(header.trim());
    } catch (NumberFormatException e) {
      ms = -1;
    }
    if (ms <= 0) {
      return service.apply(null);
    }
    io.vertx.core.Promise<Void> gone = io.vertx.core.Promise.promise();
    long timer = vertx.setTimer(ms, t -> gone.tryComplete());
    return service.apply(gone.future()).andThen(ar -> vertx.cancelTimer(timer));
  }

  /**
   * The request in an event-bus body.
   *
   * @param address the address it came to (for the messages)
   * @param body the body as delivered
   * @param prototype the expected type's default instance
   * @param maxBytes the largest serialized request accepted
   * @param <Q> the expected type
   * @return the request
   * @throws RpcException {@code BAD_REQUEST} for another body type or malformed bytes,
   *     {@code TOO_LARGE} over {@code maxBytes}
   */
  public static <Q extends Message> Q decode(String address, Object body, Q prototype, long maxBytes) {
    Class<?> type = prototype.getClass();
    String name = prototype.getDescriptorForType().getFullName();
    if (type.isInstance(body)) {
      Q request = cast(type, body);
      long size = request.getSerializedSize();
      if (size > maxBytes) {
        throw tooLarge(address, name, size, maxBytes);
      }
      return request;
    }
    byte[] bytes;
    if (body instanceof Buffer buffer) {
      if (buffer.length() > maxBytes) {
        throw tooLarge(address, name, buffer.length(), maxBytes);
      }
      bytes = buffer.getBytes();
    } else if (body instanceof byte[] array) {
      if (array.length > maxBytes) {
        throw tooLarge(address, name, array.length, maxBytes);
      }
      bytes = array;
    } else {
      String got = body == null ? "no body"
          : body instanceof Message m ? "a " + m.getDescriptorForType().getFullName()
          : "a " + body.getClass().getName();
      throw new RpcException(FailureCode.BAD_REQUEST, address + " expects a " + name
          + " protobuf message (or its bytes), got " + got);
    }
    try {
      return cast(type, prototype.getParserForType().parseFrom(bytes));
    } catch (InvalidProtocolBufferException e) {
      throw new RpcException(FailureCode.BAD_REQUEST, "malformed " + name + " protobuf (" + bytes.length
          + " bytes) at " + address + ": " + e.getMessage(), e);
    }
  }

  private static RpcException tooLarge(String address, String name, long size, long maxBytes) {
    return new RpcException(FailureCode.TOO_LARGE, address + ": a " + name + " of " + size
        + " bytes is over the limit of " + maxBytes + " bytes");
  }

  @SuppressWarnings("unchecked")
  private static <Q> Q cast(Class<?> type, Object body) {
    return (Q) type.cast(body);
  }
}
