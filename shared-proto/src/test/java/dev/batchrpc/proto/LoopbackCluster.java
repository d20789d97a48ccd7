package dev.batchrpc.proto;

import com.hazelcast.config.Config;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Test-only: clustered Vert.x nodes that join each other over TCP on 127.0.0.1 (never multicast),
 * under a cluster name of their own, so parallel test runs on one machine never meet.
 * (The production cluster configuration belongs to the runtime module.)
 */
final class LoopbackCluster {

  /** Hazelcast tries this many consecutive ports from the base when looking for members. */
  private static final int PORT_COUNT = 4;

  private final String name = "batchrpc-test-" + UUID.randomUUID();
  // A random base port keeps concurrent test JVMs out of each other's join attempts.
  private final int basePort = 20_000 + ThreadLocalRandom.current().nextInt(20_000);

  /** The cluster name the nodes of this instance share. */
  String name() {
    return name;
  }

  /** Starts one more node of this cluster, with the protobuf codec registered. */
  Future<Vertx> startNode() {
    Config config = new Config();
    config.setClusterName(name);
    config.setProperty("hazelcast.phone.home.enabled", "false");
    // Join immediately instead of Hazelcast's default 5 s settling wait: a test node is alone.
    config.setProperty("hazelcast.wait.seconds.before.join", "0");
    config.setProperty("hazelcast.socket.bind.any", "false");
    config.getNetworkConfig().setPort(basePort).setPortCount(PORT_COUNT).setPortAutoIncrement(true);
    config.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
    config.getNetworkConfig().getJoin().getMulticastConfig().setEnabled(false);
    config.getNetworkConfig().getJoin().getTcpIpConfig().setEnabled(true).addMember("127.0.0.1");

    VertxOptions options = new VertxOptions();
    options.getEventBusOptions().setHost("127.0.0.1").setPort(0);
    return Vertx.builder().with(options).withClusterManager(new HazelcastClusterManager(config))
        .buildClustered()
        .map(vertx -> {
          ProtobufCodec.register(vertx);
          return vertx;
        });
  }
}
