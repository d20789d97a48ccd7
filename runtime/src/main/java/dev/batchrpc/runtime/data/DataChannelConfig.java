package dev.batchrpc.runtime.data;

import dev.batchrpc.runtime.node.NodeConfig;

/**
 * Where a service's data channel listens ({@code --data-port}).
 *
 * @param bindHost the address the data server binds (the node's {@code --cluster-host})
 * @param advertisedHost the address peers connect to ({@code --public-host} when set, else the bind host)
 * @param port the port, 0 for any free one, -1 for no data channel (tensor bytes then go over the
 *     event bus, as in a single process)
 */
public record DataChannelConfig(String bindHost, String advertisedHost, int port) {

  /** The default: any free port. */
  public static final int DEFAULT_PORT = 0;

  /** Validates the port and hosts. */
  public DataChannelConfig {
    if (port < -1 || port > 65535) {
      throw new IllegalArgumentException("--data-port must be -1 (off), 0 (any free port) or 1-65535, got "
          + port);
    }
    if (port >= 0 && (bindHost == null || bindHost.isBlank())) {
      throw new IllegalArgumentException("a data channel needs a host to bind");
    }
    advertisedHost = advertisedHost == null || advertisedHost.isBlank() ? bindHost : advertisedHost;
  }

  /** The data channel of a node: bound on its cluster host, advertised as its public host. */
  public static DataChannelConfig of(NodeConfig node, int port) {
    return new DataChannelConfig(node.clusterHost(), node.publicHost(), port);
  }

  /** On loopback, any free port (tests, benchmarks on one machine). */
  public static DataChannelConfig loopback() {
    return new DataChannelConfig("127.0.0.1", null, DEFAULT_PORT);
  }

  /** No data channel. */
  public static DataChannelConfig off() {
    return new DataChannelConfig(null, null, -1);
  }

  /** Whether there is a data channel. */
  public boolean enabled() {
    return port >= 0;
  }
}
