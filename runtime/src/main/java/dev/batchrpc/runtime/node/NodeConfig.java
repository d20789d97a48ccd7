package dev.batchrpc.runtime.node;

import dev.batchrpc.runtime.net.TlsConfig;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How a process joins the system: a plain Vert.x node (the whole suite in one JVM) or a
 * Hazelcast-clustered one. Immutable and validated at construction: an invalid value throws
 * {@link IllegalArgumentException} naming the command-line flag of the setting (each flag
 * {@code --x-y} also reads the environment variable {@code BATCHRPC_X_Y}, see
 * {@link dev.batchrpc.runtime.cli.NodeOptions}).
 *
 * @param clustered {@code --clustered}: join a Hazelcast cluster rather than run alone
 * @param clusterName {@code --cluster-name}: nodes join only a cluster of the same name
 * @param clusterMembers {@code --cluster-members}: the TCP/IP seed members, {@code host} or
 *     {@code host:port} (comma-separated on the command line); empty for the first node alone.
 *     Multicast is never used.
 * @param clusterHost {@code --cluster-host}: the address this node binds to and advertises, for
 *     Hazelcast and the event bus (on Kubernetes: the pod IP)
 * @param clusterPort {@code --cluster-port}: Hazelcast's port, 1-65535
 * @param clusterPortAutoIncrement {@code --cluster-port-auto-increment}: try the next ports when
 *     {@code clusterPort} is taken (several nodes on one host)
 * @param eventBusPort {@code --event-bus-port}: the clustered event bus's port, 0 for a free one
 * @param publicHost {@code --public-host}: the event-bus host peers should connect to, when it
 *     differs from {@code clusterHost} (NAT, containers); {@code null} for {@code clusterHost}
 * @param publicPort {@code --public-port}: the event-bus port peers should connect to; -1 for
 *     {@code eventBusPort}
 * @param memberTimeoutS {@code --member-timeout-s}: a member that sent no heartbeat for this long
 *     is removed from the cluster (its participants leave the rounds), 2-600 seconds
 * @param tls {@code --tls-cert}, {@code --tls-key}, {@code --tls-ca}: TLS with client
 *     authentication on the clustered event bus, and TLS for the node's gRPC servers and clients;
 *     {@code null} for none
 * @param spinUs {@code --spin-us}: the most microseconds each event loop polls for more work,
 *     yielding its core, before it sleeps, adapting to its idle periods (0 to 10,000;
 *     0: it sleeps at once, unless the JVM's {@code -Dbatchrpc.spin-us} says otherwise,
 *     {@link Nodes#SPIN_US_PROPERTY})
 */
public record NodeConfig(boolean clustered, String clusterName, List<String> clusterMembers,
    String clusterHost, int clusterPort, boolean clusterPortAutoIncrement, int eventBusPort,
    String publicHost, int publicPort, int memberTimeoutS, TlsConfig tls, int spinUs) {

  /** Hazelcast's usual first port. */
  public static final int DEFAULT_CLUSTER_PORT = 5701;
  /**
   * How long a silent member stays in the cluster, by default: short enough that a killed trainer
   * or observer stops holding rounds within seconds, long enough for a GC pause.
   */
  public static final int DEFAULT_MEMBER_TIMEOUT_S = 10;
  /** The default cluster name. */
  public static final String DEFAULT_CLUSTER_NAME = "batch-rpc";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
  private static final Pattern HOST = Pattern.compile("[A-Za-z0-9._:\\[\\]-]+");

  /** Validates every setting and copies the member list. */
  public NodeConfig {
    if (clusterName == null || !NAME.matcher(clusterName).matches()) {
      throw new IllegalArgumentException("--cluster-name must be letters, digits, '.', '_' or '-', got '"
          + clusterName + "'");
    }
    clusterMembers = clusterMembers == null ? List.of() : List.copyOf(clusterMembers);
    for (String member : clusterMembers) {
      checkMember(member);
    }
    checkHost("--cluster-host", clusterHost);
    if (clusterPort < 1 || clusterPort > 65535) {
      throw new IllegalArgumentException("--cluster-port must be 1-65535, got " + clusterPort);
    }
    if (eventBusPort < 0 || eventBusPort > 65535) {
      throw new IllegalArgumentException("--event-bus-port must be 0-65535 (0: any free port), got "
          + eventBusPort);
    }
    if (publicHost != null) {
      checkHost("--public-host", publicHost);
    }
    if (publicPort != -1 && (publicPort < 1 || publicPort > 65535)) {
      throw new IllegalArgumentException("--public-port must be 1-65535 (or unset), got " + publicPort);
    }
    if (memberTimeoutS < 2 || memberTimeoutS > 600) {
      throw new IllegalArgumentException("--member-timeout-s must be 2-600 seconds, got " + memberTimeoutS);
    }
    Nodes.requireSpinMicros("--spin-us", spinUs);
  }

  /** A node that sleeps at once when idle (the other settings as in the canonical constructor). */
  public NodeConfig(boolean clustered, String clusterName, List<String> clusterMembers, String clusterHost,
      int clusterPort, boolean clusterPortAutoIncrement, int eventBusPort, String publicHost, int publicPort,
      int memberTimeoutS, TlsConfig tls) {
    this(clustered, clusterName, clusterMembers, clusterHost, clusterPort, clusterPortAutoIncrement, eventBusPort,
        publicHost, publicPort, memberTimeoutS, tls, 0);
  }

  /** A node without TLS (the other settings as in the canonical constructor). */
  public NodeConfig(boolean clustered, String clusterName, List<String> clusterMembers, String clusterHost,
      int clusterPort, boolean clusterPortAutoIncrement, int eventBusPort, String publicHost, int publicPort,
      int memberTimeoutS) {
    this(clustered, clusterName, clusterMembers, clusterHost, clusterPort, clusterPortAutoIncrement, eventBusPort,
        publicHost, publicPort, memberTimeoutS, null);
  }

  /** A plain, non-clustered node: every service in this one process. */
  public static NodeConfig local() {
    return new NodeConfig(false, DEFAULT_CLUSTER_NAME, List.of(), "127.0.0.1", DEFAULT_CLUSTER_PORT,
        true, 0, null, -1, DEFAULT_MEMBER_TIMEOUT_S);
  }

  /**
   * A clustered node binding to {@code host}, Hazelcast on {@code clusterPort} (auto-incremented
   * when taken), the event bus on a free port.
   *
   * @param clusterName the cluster to join
   * @param host the address to bind and advertise
   * @param clusterPort Hazelcast's port
   * @param members the TCP/IP seed members ({@code host} or {@code host:port})
   * @return the config
   */
  public static NodeConfig clustered(String clusterName, String host, int clusterPort, List<String> members) {
    return new NodeConfig(true, clusterName, members, host, clusterPort, true, 0, null, -1, DEFAULT_MEMBER_TIMEOUT_S);
  }

  /** This config with the event bus on a fixed port. */
  public NodeConfig withEventBusPort(int port) {
    return new NodeConfig(clustered, clusterName, clusterMembers, clusterHost, clusterPort,
        clusterPortAutoIncrement, port, publicHost, publicPort, memberTimeoutS, tls, spinUs);
  }

  /** This config advertising another event-bus address to its peers. */
  public NodeConfig withPublicAddress(String host, int port) {
    return new NodeConfig(clustered, clusterName, clusterMembers, clusterHost, clusterPort,
        clusterPortAutoIncrement, eventBusPort, host, port, memberTimeoutS, tls, spinUs);
  }

  /** This config with another member timeout (seconds without a heartbeat before removal). */
  public NodeConfig withMemberTimeoutS(int seconds) {
    return new NodeConfig(clustered, clusterName, clusterMembers, clusterHost, clusterPort,
        clusterPortAutoIncrement, eventBusPort, publicHost, publicPort, seconds, tls, spinUs);
  }

  /** This config with event loops that poll for up to {@code us} microseconds before they sleep. */
  public NodeConfig withSpinUs(int us) {
    return new NodeConfig(clustered, clusterName, clusterMembers, clusterHost, clusterPort,
        clusterPortAutoIncrement, eventBusPort, publicHost, publicPort, memberTimeoutS, tls, us);
  }

  /** This config with TLS ({@code null}: without). */
  public NodeConfig withTls(TlsConfig config) {
    return new NodeConfig(clustered, clusterName, clusterMembers, clusterHost, clusterPort,
        clusterPortAutoIncrement, eventBusPort, publicHost, publicPort, memberTimeoutS, config, spinUs);
  }

  private static void checkHost(String flag, String host) {
    if (host == null || !HOST.matcher(host).matches()) {
      throw new IllegalArgumentException(flag + " must be a host name or IP address, got '" + host + "'");
    }
  }

  private static void checkMember(String member) {
    if (member == null || member.isBlank()) {
      throw new IllegalArgumentException("--cluster-members must not contain a blank member");
    }
    int colon = member.lastIndexOf(':');
    // An IPv6 address without a port has several colons and no port suffix to check.
    boolean hasPort = colon > 0 && member.indexOf(':') == colon;
    if (hasPort) {
      checkHost("--cluster-members", member.substring(0, colon));
      String port = member.substring(colon + 1);
      int p;
      try {
        p = Integer.parseInt(port);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--cluster-members has a bad port in '" + member + "'");
      }
      if (p < 1 || p > 65535) {
        throw new IllegalArgumentException("--cluster-members has a port out of 1-65535 in '" + member + "'");
      }
    } else {
      checkHost("--cluster-members", member);
    }
  }
}
