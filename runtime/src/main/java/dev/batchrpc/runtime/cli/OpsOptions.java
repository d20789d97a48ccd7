package dev.batchrpc.runtime.cli;

import dev.batchrpc.runtime.net.ConnectionLimits;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.ops.OpsServer;
import dev.batchrpc.runtime.ops.Readiness;
import io.vertx.core.Future;
import picocli.CommandLine.Option;

/**
 * The operations-endpoint settings every service command shares, as a picocli mixin
 * ({@code @Mixin OpsOptions ops;}): where {@link OpsServer} serves {@code /metrics},
 * {@code /health/live} and {@code /health/ready}, and the {@link ConnectionLimits} of every
 * listener of the process (installed on the node by {@link #start}). Each flag falls back to its {@code BATCHRPC_*}
 * environment variable ({@link EnvDefaults}), like {@link NodeOptions}.
 */
public final class OpsOptions {

  /** The default metrics port (the compose file, Kubernetes manifests and scrape config use it). */
  public static final int DEFAULT_METRICS_PORT = 9400;

  @Option(names = "--metrics-port", defaultValue = "9400",
      description = "Port of the ops endpoint (/metrics for Prometheus, /health/live, /health/ready); "
          + "0 for any free port (printed), -1 for none. On loopback a busy port falls back to a free "
          + "one (several services on one machine). Default: ${DEFAULT-VALUE}.")
  int metricsPort = DEFAULT_METRICS_PORT;

  @Option(names = "--ops-host", defaultValue = "127.0.0.1",
      description = "Address the ops endpoint binds (containers: 0.0.0.0). "
          + "Default: ${DEFAULT-VALUE}.")
  String opsHost = "127.0.0.1";

  @Option(names = "--max-connections", defaultValue = "1024",
      description = "Connections each listener of this process (ops endpoint, data channel, gRPC) holds "
          + "at once; one more is closed when accepted. Default: ${DEFAULT-VALUE}.")
  int maxConnections = ConnectionLimits.DEFAULTS.maxConnections();

  @Option(names = "--idle-timeout-s", defaultValue = "300",
      description = "Close a connection of the ops endpoint, the data channel or gRPC idle this long "
          + "(the data channel: with no call waiting for its answer); 0: never. Keep it above "
          + "--max-wait-ms. Default: ${DEFAULT-VALUE}.")
  int idleTimeoutS = ConnectionLimits.DEFAULTS.idleTimeoutS();

  @Option(names = "--header-timeout-s", defaultValue = "10",
      description = "Close an ops-endpoint connection whose request headers are not complete this long "
          + "after it opened or answered its previous request. Default: ${DEFAULT-VALUE}.")
  int headerTimeoutS = ConnectionLimits.DEFAULTS.headerTimeoutS();

  /** The listeners' limits ({@code --max-connections}, {@code --idle-timeout-s}, {@code --header-timeout-s}). */
  public ConnectionLimits limits() {
    return new ConnectionLimits(maxConnections, idleTimeoutS, headerTimeoutS);
  }

  /** {@code --metrics-port}. */
  public int metricsPort() {
    return metricsPort;
  }

  /** {@code --ops-host}. */
  public String opsHost() {
    return opsHost;
  }

  /**
   * Checks the values.
   *
   * @throws IllegalArgumentException naming the flag of an invalid value
   */
  public void validate() {
    if (metricsPort < -1 || metricsPort > 65535) {
      throw new IllegalArgumentException("--metrics-port must be -1 (off), 0 (any free port) or 1-65535, got "
          + metricsPort);
    }
    if (opsHost == null || opsHost.isBlank()) {
      throw new IllegalArgumentException("--ops-host must not be blank");
    }
    limits();
  }

  /**
   * Starts the ops endpoint on the node, unless {@code --metrics-port -1}.
   *
   * @param node the process's node (its registry is served)
   * @param readiness the process's readiness conditions
   * @return one line for the service's start-up message: where metrics and health are served, or
   *     that they are not; fails when the port cannot be bound (off loopback)
   */
  public Future<String> start(Node node, Readiness readiness) {
    validate();
    // Before any server of the node listens: the data channel and gRPC read them too.
    ConnectionLimits.install(node.vertx(), limits());
    if (metricsPort < 0) {
      return Future.succeededFuture("no ops endpoint (--metrics-port -1)");
    }
    return OpsServer.start(node, opsHost, metricsPort, readiness)
        .map(s -> describe(s.port(), ""))
        .recover(e -> {
          // Several services on one machine all default to 9400: on loopback, where no scraper
          // depends on the exact port, take a free one and say so rather than fail the service.
          if (metricsPort == 0 || !isLoopback(opsHost)) {
            return Future.failedFuture(new IllegalStateException("cannot serve the ops endpoint on "
                + opsHost + ":" + metricsPort + " (--metrics-port, --ops-host): " + e.getMessage(), e));
          }
          return OpsServer.start(node, opsHost, 0, readiness)
              .map(s -> describe(s.port(), " (port " + metricsPort + " was busy)"));
        });
  }

  private String describe(int port, String note) {
    String base = "http://" + (opsHost.contains(":") ? "[" + opsHost + "]" : opsHost) + ":" + port;
    return "metrics on " + base + "/metrics, health on " + base + "/health/ready" + note;
  }

  private static boolean isLoopback(String host) {
    return host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
  }
}
