package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A participant bound to a node that is no cluster member is taken as gone even when no
 * membership event said so (found by bench chaos: a participant paused past the member timeout,
 * merged back and then killed was never seen leaving, and each restart under its id was refused as
 * a duplicate): at the next registration under its id, and by the periodic check.
 */
@ExtendWith(LoopbackNodes.class)
class ParticipantNodesTest {

  /** A registration as it arrives: only its node header is read. */
  private static Message<Object> from(String node) {
    MultiMap headers = MultiMap.caseInsensitiveMultiMap().add(Addresses.NODE_HEADER, node);
    return new Message<>() {
      @Override
      public String address() {
        return Addresses.AGENT_REGISTER;
      }

      @Override
      public MultiMap headers() {
        return headers;
      }

      @Override
      public Object body() {
        return null;
      }

      @Override
      public String replyAddress() {
        return null;
      }

      @Override
      public boolean isSend() {
        return true;
      }

      @Override
      public void reply(Object message, DeliveryOptions options) {
      }

      @Override
      public <R> Future<Message<R>> replyAndRequest(Object message, DeliveryOptions options) {
        return Future.failedFuture("unused");
      }
    };
  }

  private static <T> T on(Context ctx, Supplier<T> action) throws Exception {
    Promise<T> p = Promise.promise();
    ctx.runOnContext(v -> p.complete(action.get()));
    return LoopbackNodes.await(p.future(), 10);
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void aBindingToANodeThatIsNoMemberIsReleasedWithoutAnEvent() throws Exception {
    Node node = LoopbackNodes.await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName("pnodes"),
        Ports.freePort(), List.of())), 60);
    try {
      Context ctx = node.vertx().getOrCreateContext();
      List<String> lost = new CopyOnWriteArrayList<>();
      ParticipantNodes nodes = on(ctx, () -> ParticipantNodes.watch(node.vertx(), lost::add));
      String live = node.nodeId();
      on(ctx, () -> {
        nodes.bind("live-one", from(live));
        nodes.bind("ghost-one", from("no-such-node-1"));
        nodes.bind("ghost-two", from("no-such-node-2"));
        return null;
      });
      // a registration under a ghost's id from another node: no duplicate, the ghost leaves at once
      assertThat(on(ctx, () -> nodes.boundElsewhere("ghost-one", from("new-node")))).isNull();
      assertThat(lost).containsExactly("ghost-one");
      // one under the live one's id is still refused, naming its node
      assertThat(on(ctx, () -> nodes.boundElsewhere("live-one", from("new-node")))).isEqualTo(live);
      // the periodic check releases the other ghost, never the live one
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (!lost.contains("ghost-two") && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertThat(lost).containsExactly("ghost-one", "ghost-two");
      Thread.sleep(ParticipantNodes.RECONCILE_MS + 500);
      assertThat(lost).doesNotContain("live-one");
      on(ctx, () -> {
        nodes.close();
        return null;
      });
    } finally {
      LoopbackNodes.closeQuietly(List.of(node));
    }
  }
}
