package dev.batchrpc.suite.bench;

import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import dev.batchrpc.suite.Main;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The cluster of a benchmark's {@code procs} mode: this JVM's clustered node on 127.0.0.1 (the
 * parameter server's or the agent's), and the {@code batch-rpc} services it starts as child JVMs
 * that join it, one OS process each, as their containers would run them.
 */
final class BenchCluster implements AutoCloseable {

  /**
   * Cluster-wide Hazelcast settings of the benchmarks (every member needs the same partition
   * count): no join pause, and few partitions, so that each member joining or leaving migrates 7
   * small partitions rather than 271 (Vert.x keeps only its subscription and node maps there).
   */
  static final Map<String, String> PROPERTIES = Map.of(
      "hazelcast.wait.seconds.before.join", "0",
      "hazelcast.partition.count", "7");

  private static final String LOOPBACK = "127.0.0.1";

  private final String name;
  private final int port;
  private final Node node;

  private BenchCluster(String name, int port, Node node) {
    this.name = name;
    this.port = port;
    this.node = node;
  }

  /** Starts this JVM's node of a new cluster named {@code prefix-<random UUID>}. */
  static BenchCluster start(String prefix) throws Exception {
    return start(prefix, NodeConfig.DEFAULT_MEMBER_TIMEOUT_S);
  }

  /**
   * Starts this JVM's node of a new cluster named {@code prefix-<random UUID>} that removes a
   * member silent for {@code memberTimeoutS} (give the children the same {@code --member-timeout-s}:
   * this node, the oldest, is the master that decides removals).
   */
  static BenchCluster start(String prefix, int memberTimeoutS) throws Exception {
    // Read when the Hazelcast instance starts; this process starts only the bench's nodes.
    PROPERTIES.forEach(System::setProperty);
    String name = prefix + "-" + UUID.randomUUID();
    int port = Ports.freePort();
    NodeConfig config = NodeConfig.clustered(name, LOOPBACK, port, List.of()).withMemberTimeoutS(memberTimeoutS);
    return new BenchCluster(name, port, Nodes.start(config).await());
  }

  /** This JVM's node. */
  Node node() {
    return node;
  }

  /**
   * Starts {@code batch-rpc command} as a child JVM that joins this cluster on a free port of
   * 127.0.0.1, then {@code args}.
   *
   * @param what the child in messages ("trainer process bench-2")
   * @param jvmOptions its JVM options (the cluster's properties and {@link JvmFlags#COMMON} follow)
   * @param env environment variables it gets unless this JVM's environment sets them
   * @param log the file its output is appended to
   */
  ChildJvm spawn(String what, List<String> jvmOptions, Map<String, String> env, Path log, String command,
      List<String> args) throws IOException {
    List<String> options = new ArrayList<>(jvmOptions);
    PROPERTIES.forEach((k, v) -> options.add("-D" + k + "=" + v));
    List<String> cmd = JvmFlags.command(options, Main.class.getName());
    cmd.addAll(List.of(command, "--clustered", "--cluster-name", name, "--cluster-host", LOOPBACK,
        "--cluster-port", Integer.toString(Ports.freePort()), "--cluster-members", LOOPBACK + ":" + port));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd);
    env.forEach(pb.environment()::putIfAbsent);
    return ChildJvm.start(what, pb, log);
  }

  /** Closes this JVM's node (its children are the caller's to end first). */
  @Override
  public void close() throws Exception {
    node.close().await(20, TimeUnit.SECONDS);
  }
}
