package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.spi.cluster.NodeListener;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Two Hazelcast-clustered nodes on 127.0.0.1, joined over TCP/IP with a random cluster name. */
@ExtendWith({VertxExtension.class, LoopbackNodes.class})
class ClusteredNodesTest {

  private static GetModelRequest request(String participantId) {
    return GetModelRequest.newBuilder().setParticipantId(participantId).build();
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void twoNodesExchangeMessagesAndSeeEachOtherLeave(VertxTestContext ctx) throws IOException {
    String cluster = LoopbackNodes.clusterName("test");
    int portA = Ports.freePort();
    int portB = Ports.freePort();
    NodeConfig configA = LoopbackNodes.config(cluster, portA, List.of(LoopbackNodes.member(portB)));
    NodeConfig configB = LoopbackNodes.config(cluster, portB, List.of(LoopbackNodes.member(portA)));
    Promise<String> left = Promise.promise();

    Nodes.start(configA).compose(a -> Nodes.start(configB).map(b -> {
      ctx.verify(() -> {
        assertThat(a.isClustered()).isTrue();
        assertThat(a.nodeId()).isNotEqualTo(b.nodeId());
        assertThat(a.members()).containsExactlyInAnyOrder(a.nodeId(), b.nodeId());
      });
      a.watchMembers(new NodeListener() {
        @Override
        public void nodeAdded(String nodeId) {
        }

        @Override
        public void nodeLeft(String nodeId) {
          left.tryComplete(nodeId);
        }
      });
      // A context-free promise starts the chain: callbacks of b's futures would be dispatched to
      // b's event loops, which stop when b closes below.
      Promise<Void> registered = Promise.promise();
      b.vertx().eventBus().<GetModelRequest>consumer("test.echo", m -> {
        String id = m.body().getParticipantId();
        if ("refuse".equals(id)) {
          RpcException.replyFailure(m, new RpcException(FailureCode.STALE_VERSION, "version 3, server at 5"));
        } else {
          m.reply(GetModelRequest.newBuilder().setParticipantId("echo " + id).build());
        }
      }).completion().onComplete(registered);
      registered.future()
          // Protobuf bodies cross nodes through the codec every node registers at start.
          .compose(v -> a.vertx().eventBus().<GetModelRequest>request("test.echo", request("hello")))
          .compose(reply -> {
            ctx.verify(() -> assertThat(reply.body().getParticipantId()).isEqualTo("echo hello"));
            return a.vertx().eventBus().<GetModelRequest>request("test.echo", request("refuse"))
                .transform(ar -> Future.succeededFuture(ar.cause()));
          })
          .compose(refusal -> {
            ctx.verify(() -> {
              // The code and text survive the trip between nodes.
              RpcException e = RpcException.of(refusal);
              assertThat(e.code()).isEqualTo(FailureCode.STALE_VERSION);
              assertThat(e).hasMessage("version 3, server at 5");
              assertThat(a.scrape()).contains("vertx_eventbus");
            });
            String idB = b.nodeId();
            b.close().onFailure(ctx::failNow);
            return left.future()
                .map(leftId -> {
                  ctx.verify(() -> assertThat(leftId).isEqualTo(idB));
                  return leftId;
                });
          })
          // Not eventually(): a future of a's own context could not report after a closed.
          .onComplete(ar -> a.close().onComplete(closed -> {
            if (ar.failed()) {
              ctx.failNow(ar.cause());
            } else if (closed.failed()) {
              ctx.failNow(closed.cause());
            } else {
              ctx.completeNow();
            }
          }));
      return a;
    })).onFailure(ctx::failNow);
  }
}
