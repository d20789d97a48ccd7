package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(VertxExtension.class)
class NodeConfigTest {

  private static NodeConfig parse(Map<String, String> env, String... args) {
    return NodeConfig.fromFlags(Flags.parse(args, env));
  }

  @Test
  void flagsWinOverEnvironmentWhichWinsOverDefaults() {
    NodeConfig c = parse(Map.of("BATCHRPC_CLUSTER_PORT", "6000", "BATCHRPC_CLUSTER_NAME", "from-env"),
        "--clustered", "--cluster-name=from-flag", "--cluster-members", "10.0.0.1:5701, 10.0.0.2",
        "--public-host", "ps.example", "--public-port", "7000");
    assertThat(c.clustered()).isTrue();
    assertThat(c.clusterName()).isEqualTo("from-flag");
    assertThat(c.clusterPort()).isEqualTo(6000);
    assertThat(c.clusterMembers()).containsExactly("10.0.0.1:5701", "10.0.0.2");
    assertThat(c.clusterHost()).isEqualTo(NodeConfig.local().clusterHost());
    assertThat(c.publicHost()).isEqualTo("ps.example");
    assertThat(c.publicPort()).isEqualTo(7000);
    assertThat(parse(Map.of())).isEqualTo(NodeConfig.local());
  }

  @Test
  void invalidValuesNameTheirFlag() {
    assertThatThrownBy(() -> parse(Map.of(), "--cluster-port", "70000"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-port");
    assertThatThrownBy(() -> parse(Map.of("BATCHRPC_CLUSTER_PORT", "many")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-port must be an integer");
    assertThatThrownBy(() -> parse(Map.of(), "--event-bus-port", "-2"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--event-bus-port");
    assertThatThrownBy(() -> parse(Map.of(), "--cluster-members", "10.0.0.1:0"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-members");
    assertThatThrownBy(() -> parse(Map.of(), "--cluster-name", "has space"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-name");
    assertThatThrownBy(() -> parse(Map.of(), "--cluster-host", "a/b"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-host");
    assertThatThrownBy(() -> parse(Map.of(), "--public-port", "0"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--public-port");
    assertThatThrownBy(() -> parse(Map.of(), "--clustered", "maybe"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--clustered must be true or false");
    assertThatThrownBy(() -> parse(Map.of(), "stray"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'stray'");
  }

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
