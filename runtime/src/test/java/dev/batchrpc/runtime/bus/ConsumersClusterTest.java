package dev.batchrpc.runtime.bus;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageCodec;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Corrupt protobuf bytes from another cluster node: the receiving consumer answers
 * {@code BAD_REQUEST} at once (the sender does not wait for its timeout) and keeps serving.
 */
@ExtendWith({VertxExtension.class, LoopbackNodes.class})
class ConsumersClusterTest {

  private static final String ADDRESS = "test.get-model";

  /**
   * Writes frames in {@link ProtobufCodec}'s layout under its name, with a known type and
   * malformed message bytes (a length-delimited field claiming 127 bytes, then 1).
   */
  private static final class CorruptCodec implements MessageCodec<Object, Object> {
    @Override
    public void encodeToWire(Buffer buffer, Object o) {
      byte[] name = GetModelRequest.getDescriptor().getFullName().getBytes(StandardCharsets.UTF_8);
      byte[] body = {0x0A, 0x7F, 'x'};
      buffer.appendInt(name.length).appendBytes(name).appendInt(body.length).appendBytes(body);
    }

    @Override
    public Object decodeFromWire(int pos, Buffer buffer) {
      throw new UnsupportedOperationException("send only");
    }

    @Override
    public Object transform(Object o) {
      return o;
    }

    @Override
    public String name() {
      return ProtobufCodec.NAME;
    }

    @Override
    public byte systemCodecID() {
      return -1;
    }
  }

  @Test
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void corruptBytesFromAnotherNodeAreABadRequestAndTheConsumerKeepsServing(VertxTestContext ctx)
      throws IOException {
    String cluster = LoopbackNodes.clusterName("test");
    int portA = Ports.freePort();
    int portB = Ports.freePort();
    NodeConfig a = LoopbackNodes.config(cluster, portA, List.of(LoopbackNodes.member(portB)));
    NodeConfig b = LoopbackNodes.config(cluster, portB, List.of(LoopbackNodes.member(portA)));
    Node[] nodes = new Node[2];
    Nodes.start(a).compose(na -> {
      nodes[0] = na;
      return Nodes.start(b);
    }).compose(nb -> {
      nodes[1] = nb;
      // a corrupting sender: node A's codec of that name writes malformed bytes
      Node sender = nodes[0];
      sender.vertx().eventBus().unregisterCodec(ProtobufCodec.NAME);
      sender.vertx().eventBus().registerCodec(new CorruptCodec());
      return Consumers.serve(nb.vertx().eventBus(), ADDRESS, GetModelRequest.getDefaultInstance(),
          // replies as bytes: node A's codec of the protobuf name is the corrupt one
          q -> Future.succeededFuture(Buffer.buffer(GetModelRequest.newBuilder()
              .setParticipantId("echo " + q.getParticipantId()).build().toByteArray()))).completion();
    }).compose(v -> nodes[0].vertx().eventBus().request(ADDRESS, "anything",
            new DeliveryOptions().setCodecName(ProtobufCodec.NAME).setSendTimeout(30_000))
        .transform(ar -> Future.succeededFuture(ar.cause())))
        .compose(refusal -> {
          ctx.verify(() -> {
            assertThat(refusal).isInstanceOf(ReplyException.class);
            assertThat(((ReplyException) refusal).failureType()).isEqualTo(ReplyFailure.RECIPIENT_FAILURE);
            assertThat(RpcException.of(refusal).code()).isEqualTo(FailureCode.BAD_REQUEST);
            assertThat(refusal).hasMessageContaining("malformed batchrpc.v1.GetModelRequest");
          });
          // the same consumer still serves a good request from the other node (sent as bytes,
          // since the sender's codec of that name is the corrupt one)
          return nodes[0].vertx().eventBus().<Buffer>request(ADDRESS,
              Buffer.buffer(GetModelRequest.newBuilder().setParticipantId("t1").build().toByteArray()),
              new DeliveryOptions().setSendTimeout(30_000));
        })
        .map(m -> Consumers.decode(ADDRESS, m.body(), GetModelRequest.getDefaultInstance(), 1024))
        // Not eventually(): a callback on a closed node's context might never run.
        .onComplete(ar -> Future.join(nodes[1] == null ? Future.succeededFuture() : nodes[1].close(),
            nodes[0] == null ? Future.succeededFuture() : nodes[0].close()).onComplete(closed -> {
              if (ar.failed()) {
                ctx.failNow(ar.cause());
              } else {
                ctx.verify(() -> assertThat(ar.result().getParticipantId()).isEqualTo("echo t1"));
                ctx.completeNow();
              }
            }));
  }
}
