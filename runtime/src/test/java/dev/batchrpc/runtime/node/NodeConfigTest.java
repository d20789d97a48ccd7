package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.TimeUnit;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(VertxExtension.class)
class NodeConfigTest {

  @Test
  void hazelcastJoinsOverTcpOnlyWithPhoneHomeOff() {
    NodeConfig c = NodeConfig.clustered("c1", "127.0.0.1", 5801, List.of("127.0.0.1:5802"));
    com.hazelcast.config.Config hz = Nodes.hazelcastConfig(c);
    assertThat(hz.getClusterName()).isEqualTo("c1");
    assertThat(hz.getNetworkConfig().getJoin().getMulticastConfig().isEnabled()).isFalse();
    assertThat(hz.getNetworkConfig().getJoin().getTcpIpConfig().isEnabled()).isTrue();
    assertThat(hz.getNetworkConfig().getJoin().getTcpIpConfig().getMembers()).containsExactly("127.0.0.1:5802");
    assertThat(hz.getNetworkConfig().getPort()).isEqualTo(5801);
    assertThat(hz.getProperty("hazelcast.phone.home.enabled")).isEqualTo("false");
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void localNodeReportsVertxMetricsIntoItsRegistry(VertxTestContext ctx) {
    Nodes.start(NodeConfig.local()).compose(node -> {
      ctx.verify(() -> {
        assertThat(node.isClustered()).isFalse();
        assertThat(node.members()).containsExactly(Node.LOCAL_NODE_ID);
      });
      return node.vertx().eventBus().consumer("local.ping", m -> m.reply("pong")).completion()
          .compose(v -> node.vertx().eventBus().<String>request("local.ping", "ping"))
          .map(reply -> {
            ctx.verify(() -> {
              assertThat(reply.body()).isEqualTo("pong");
              assertThat(node.scrape()).contains("vertx_eventbus_processed");
            });
            return node;
          })
          // Closed from the node's own event loop: the close must still report back.
          .onComplete(ar -> node.close().onComplete(ctx.succeedingThenComplete()));
    }).onFailure(ctx::failNow);
  }
}
