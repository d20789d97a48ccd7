package dev.batchrpc.runtime.bus;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Every body a sender can put on the bus gets an answer at once: the expected message or its bytes
 * reach the service, anything else is refused with a code that names the expected type.
 */
@ExtendWith(VertxExtension.class)
class ConsumersTest {

  private static final String ADDRESS = "test.update";
  /** Far below any test timeout: a refusal must come back as a reply, not as a timeout. */
  private static final long SEND_TIMEOUT_MS = 5_000;

  private static UpdateRequest update(String id, int floats) {
    return UpdateRequest.newBuilder().setParticipantId(id).setModelVersion(3)
        .setGradients(Tensors.vector(new float[floats])).build();
  }

  /** An echo service: the reply is the request's id with its version, as a GetModelRequest. */
  private static Future<GetModelRequest> echo(UpdateRequest q, AtomicInteger served) {
    served.incrementAndGet();
    if (q.getParticipantId().equals("refuse")) {
      return Future.failedFuture(new RpcException(FailureCode.DUPLICATE, "refused by the service"));
    }
    if (q.getParticipantId().equals("throw")) {
      throw new IllegalArgumentException("thrown by the service");
    }
    return Future.succeededFuture(GetModelRequest.newBuilder()
        .setParticipantId(q.getParticipantId() + "@" + q.getModelVersion()).build());
  }

  private static Future<Object> outcome(Vertx vertx, Object body, DeliveryOptions options) {
    return vertx.eventBus().request(ADDRESS, body, options.setSendTimeout(SEND_TIMEOUT_MS))
        .<Object>map(Message::body)
        .recover(e -> Future.succeededFuture(e));
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void everyKindOfBodyIsServedOrRefusedAtOnce(Vertx vertx, VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    AtomicInteger served = new AtomicInteger();
    UpdateRequest good = update("t1", 4);
    byte[] truncated = {0x0A, 0x7F, 't'};
    List<Object> out = new ArrayList<>();
    Consumers.serve(vertx.eventBus(), ADDRESS, UpdateRequest.getDefaultInstance(), 1024,
            q -> echo(q, served)).completion()
        .compose(v -> Future.all(List.of(
            outcome(vertx, good, ProtobufCodec.options()),
            outcome(vertx, Buffer.buffer(good.toByteArray()), new DeliveryOptions()),
            outcome(vertx, good.toByteArray(), new DeliveryOptions()),
            outcome(vertx, Buffer.buffer(truncated), new DeliveryOptions()),
            outcome(vertx, truncated, new DeliveryOptions()),
            outcome(vertx, "{\"participant_id\": \"t1\"}", new DeliveryOptions()),
            outcome(vertx, new JsonObject().put("participant_id", "t1"), new DeliveryOptions()),
            outcome(vertx, null, new DeliveryOptions()),
            outcome(vertx, GetModelRequest.newBuilder().setParticipantId("t1").build(), ProtobufCodec.options()),
            outcome(vertx, update("big", 300), ProtobufCodec.options()),
            outcome(vertx, Buffer.buffer(update("big", 300).toByteArray()), new DeliveryOptions()),
            outcome(vertx, update("refuse", 1), ProtobufCodec.options()),
            outcome(vertx, update("throw", 1), ProtobufCodec.options()))))
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          out.addAll(all.list());
          // the message, and its bytes as a Buffer or a byte[], all reach the service
          for (int i = 0; i < 3; i++) {
            assertThat(out.get(i)).as("body %d", i).isInstanceOf(GetModelRequest.class);
            assertThat(((GetModelRequest) out.get(i)).getParticipantId()).isEqualTo("t1@3");
          }
          assertRefused(out.get(3), FailureCode.BAD_REQUEST, "malformed batchrpc.v1.UpdateRequest protobuf");
          assertRefused(out.get(4), FailureCode.BAD_REQUEST, "malformed batchrpc.v1.UpdateRequest protobuf");
          assertRefused(out.get(5), FailureCode.BAD_REQUEST, "expects a batchrpc.v1.UpdateRequest", "java.lang.String");
          assertRefused(out.get(6), FailureCode.BAD_REQUEST, "expects a batchrpc.v1.UpdateRequest", "JsonObject");
          assertRefused(out.get(7), FailureCode.BAD_REQUEST, "expects a batchrpc.v1.UpdateRequest", "no body");
          assertRefused(out.get(8), FailureCode.BAD_REQUEST, "expects a batchrpc.v1.UpdateRequest",
              "batchrpc.v1.GetModelRequest");
          assertRefused(out.get(9), FailureCode.TOO_LARGE, "over the limit of 1024 bytes");
          assertRefused(out.get(10), FailureCode.TOO_LARGE, "over the limit of 1024 bytes");
          assertRefused(out.get(11), FailureCode.DUPLICATE, "refused by the service");
          assertRefused(out.get(12), FailureCode.BAD_REQUEST, "thrown by the service");
          // only the three good bodies and the two the service itself refused reached it
          assertThat(served).hasValue(5);
          ctx.completeNow();
        })));
  }

  private static void assertRefused(Object outcome, FailureCode code, String... fragments) {
    assertThat(outcome).isInstanceOf(ReplyException.class);
    ReplyException e = (ReplyException) outcome;
    // a reply from the consumer, not the sender's timeout
    assertThat(e.failureType()).as(e.getMessage()).isEqualTo(ReplyFailure.RECIPIENT_FAILURE);
    assertThat(RpcException.of(e).code()).as(e.getMessage()).isEqualTo(code);
    for (String f : fragments) {
      assertThat(e.getMessage()).contains(f);
    }
  }

  @Test
  void decodeRefusesAnOversizedMessageEvenWhenItIsTheExpectedType() {
    UpdateRequest q = update("t", 100);
    assertThat(Consumers.decode("a", q, UpdateRequest.getDefaultInstance(), q.getSerializedSize())).isSameAs(q);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> Consumers.decode("a", q, UpdateRequest.getDefaultInstance(), q.getSerializedSize() - 1))
        .isInstanceOf(RpcException.class)
        .satisfies(e -> assertThat(((RpcException) e).code()).isEqualTo(FailureCode.TOO_LARGE));
  }
}
