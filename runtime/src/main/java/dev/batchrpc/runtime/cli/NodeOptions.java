package dev.batchrpc.runtime.cli;

import dev.batchrpc.runtime.net.TlsConfig;
import dev.batchrpc.runtime.node.NodeConfig;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The node settings every service command shares, as a picocli mixin
 * ({@code @Mixin NodeOptions node;}). In a command with {@link EnvDefaults}, each flag
 * {@code --x-y} falls back to the environment variable {@code BATCHRPC_X_Y} (for compose and
 * Kubernetes), then to the default shown in {@code --help}. {@link #toConfig()} validates and names
 * the flag of a bad value.
 */
public final class NodeOptions {

  @Option(names = "--clustered", arity = "0..1", fallbackValue = "true",
      defaultValue = "false",
      description = "Join a Hazelcast cluster (TCP/IP, never multicast) instead of running alone. "
          + "Default: ${DEFAULT-VALUE}.")
  boolean clustered;

  @Option(names = "--cluster-name", defaultValue = "batch-rpc",
      description = "Nodes join only a cluster of the same name. "
          + "Default: ${DEFAULT-VALUE}.")
  String clusterName;

  @Option(names = "--cluster-members", split = ",", defaultValue = "",
      description = "Seed members, host or host:port, comma-separated. "
          + "Default: none (first node).")
  List<String> clusterMembers;

  @Option(names = "--cluster-host", defaultValue = "127.0.0.1",
      description = "Address to bind and advertise for Hazelcast and the event bus (on Kubernetes: "
          + "the pod IP). Default: ${DEFAULT-VALUE}.")
  String clusterHost;

  @Option(names = "--cluster-port", defaultValue = "5701",
      description = "Hazelcast port (the next free one is taken when busy). "
          + "Default: ${DEFAULT-VALUE}.")
  int clusterPort;

  @Option(names = "--event-bus-port", defaultValue = "0",
      description = "Clustered event-bus port, 0 for any free port. "
          + "Default: ${DEFAULT-VALUE}.")
  int eventBusPort;

  @Option(names = "--public-host",
      description = "Event-bus host peers should connect to, when it differs from --cluster-host "
          + "(NAT, containers).")
  String publicHost;

  @Option(names = "--public-port", defaultValue = "-1",
      description = "Event-bus port peers should connect to; -1 for --event-bus-port.")
  int publicPort;

  @Option(names = "--member-timeout-s", defaultValue = "10",
      description = "A cluster member silent for this long is removed and its trainers or observers "
          + "leave the rounds, 2-600. Default: ${DEFAULT-VALUE}.")
  int memberTimeoutS;

  @Option(names = "--tls-cert",
      description = "PEM certificate chain of this node. With --tls-key and --tls-ca (all three or "
          + "none): TLS with client certificates on the clustered event bus, TLS on gRPC "
          + "(docs/security.md; make them with 'batch-rpc certs'). Default: none (no TLS).")
  String tlsCert;

  @Option(names = "--tls-key",
      description = "PEM private key of --tls-cert (PKCS#8, unencrypted).")
  String tlsKey;

  @Option(names = "--tls-ca",
      description = "PEM CA certificate(s) that peers' certificates must chain to (a CA private to "
          + "this deployment).")
  String tlsCa;

  @Option(names = "--grpc-client-auth", defaultValue = "required",
      description = "With TLS: whether gRPC servers demand a client certificate of --tls-ca: none, request "
          + "or required (the event bus always requires one). "
          + "Default: ${DEFAULT-VALUE}.")
  String grpcClientAuth;

  @Option(names = "--spin-us", defaultValue = "0",
      description = "The most microseconds each event loop polls for more work, yielding its core, before it "
          + "sleeps, 0-10000; each loop's poll adapts to its idle periods up to this (it polls through gaps "
          + "shorter than this and sleeps at once after longer ones). A latency knob for services that "
          + "answer each other in quick turns, e.g. an agent and its observers on one host: on a virtual "
          + "machine a sleeping core halts and each wake-up costs tens of microseconds (docs/architecture.md, "
          + "\"Threads\"). With it on at both ends of an agent's data channel on one host, an observer's "
          + "steps go through a shared-memory mailbox that the polling loops read, with no system call per "
          + "step (\"Same-host step mailbox\"). The CPU it polls counts against a container's CPU limit. "
          + "Linux only (native epoll). "
          + "0: sleep at once, or -Dbatchrpc.spin-us when that is set. Default: ${DEFAULT-VALUE}.")
  int spinUs;

  /**
   * The validated node config.
   *
   * @throws IllegalArgumentException naming the flag of an invalid value
   */
  public NodeConfig toConfig() {
    List<String> members = clusterMembers == null ? List.of()
        : clusterMembers.stream().map(String::trim).filter(s -> !s.isEmpty()).toList();
    // Checked even without TLS, so a typo fails now rather than when TLS is turned on.
    TlsConfig.parseClientAuth(grpcClientAuth);
    return new NodeConfig(clustered, clusterName, members, clusterHost, clusterPort, true,
        eventBusPort, publicHost == null || publicHost.isBlank() ? null : publicHost, publicPort, memberTimeoutS,
        TlsConfig.of(tlsCert, tlsKey, tlsCa, grpcClientAuth), spinUs);
  }
}
