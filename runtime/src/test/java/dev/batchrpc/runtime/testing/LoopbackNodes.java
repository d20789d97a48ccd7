package dev.batchrpc.runtime.testing;

import dev.batchrpc.runtime.VertxInternals;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What the cluster tests of every module share: Hazelcast-clustered nodes on 127.0.0.1 under a
 * random cluster name (never multicast), crashing a node without a goodbye,
 * closing nodes after a test. As a JUnit 5 extension ({@code @ExtendWith(LoopbackNodes.class)})
 * it lets the nodes of the test JVM join without Hazelcast's default pause.
 */
public final class LoopbackNodes implements BeforeAllCallback, AfterAllCallback {

  /** The only address cluster tests use. */
  public static final String LOOPBACK = "127.0.0.1";
  /** Hazelcast waits 5 s before joining by default; nodes started one after another need no pause. */
  public static final String JOIN_PAUSE = "hazelcast.wait.seconds.before.join";

  @Override
  public void beforeAll(ExtensionContext context) {
    // Read when each Hazelcast instance starts.
    System.setProperty(JOIN_PAUSE, "0");
  }

  @Override
  public void afterAll(ExtensionContext context) {
    System.clearProperty(JOIN_PAUSE);
  }

  /** A cluster name no other test run shares: {@code prefix-<random UUID>}. */
  public static String clusterName(String prefix) {
    return prefix + "-" + UUID.randomUUID();
  }

  /** The seed-member address of a Hazelcast member on {@code port} of 127.0.0.1. */
  public static String member(int port) {
    return LOOPBACK + ":" + port;
  }

  /** The seed-member address of {@code node}. */
  public static String member(Node node) {
    return member(node.config().clusterPort());
  }

  /**
   * A clustered node on 127.0.0.1 exactly on {@code port} (no auto-increment), joining
   * {@code members}, event bus on any port, the default member timeout.
   */
  public static NodeConfig config(String cluster, int port, List<String> members) {
    return new NodeConfig(true, cluster, members, LOOPBACK, port, false, 0, null, -1,
        NodeConfig.DEFAULT_MEMBER_TIMEOUT_S);
  }

  /**
   * Starts a clustered node on 127.0.0.1 (Hazelcast on {@code port}, auto-incremented if taken)
   * joining {@code members}, with a short member timeout, waiting up to 60 s; adds it to
   * {@code started} (to close after the test).
   */
  public static Node start(String cluster, int port, List<String> members, int memberTimeoutS, List<Node> started)
      throws Exception {
    Node n = await(dev.batchrpc.runtime.node.Nodes.start(NodeConfig.clustered(cluster, LOOPBACK, port, members)
        .withMemberTimeoutS(memberTimeoutS)), 60);
    started.add(n);
    return n;
  }

  /**
   * Crashes {@code node}: its Hazelcast instance is terminated at once, without telling the other
   * members, as a killed process would vanish. Its Vert.x is left to the caller to close.
   */
  public static void crash(Node node) {
    ((HazelcastClusterManager) VertxInternals.clusterManager(node.vertx()))
        .getHazelcastInstance().getLifecycleService().terminate();
  }

  /**
   * Sends {@code signal} ("STOP", "CONT", "KILL") to a process, as an operator's {@code kill}
   * would: a SIGSTOPped JVM stops answering heartbeats, exactly as a paused or partitioned one.
   */
  public static void signal(long pid, String signal) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
    if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
      throw new IllegalStateException("kill -" + signal + " " + pid + " failed");
    }
  }

  /**
   * Ends child processes a test may have left frozen: each is continued (SIGCONT) if alive, then
   * closed ({@link dev.batchrpc.runtime.process.ChildJvm#close}).
   */
  public static void resumeAndClose(List<dev.batchrpc.runtime.process.ChildJvm> children) throws Exception {
    for (dev.batchrpc.runtime.process.ChildJvm c : children) {
      if (c.process().isAlive()) {
        signal(c.pid(), "CONT");
      }
      c.close();
    }
  }

  /** Polls {@code condition} every 20 ms until it holds; fails naming {@code what} after {@code seconds}. */
  public static void waitUntil(String what, int seconds, java.util.concurrent.Callable<Boolean> condition)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.call()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  /** The body of {@code GET http://127.0.0.1:port/path} (any status), or the failure's text. */
  public static String get(int port, String path) {
    try {
      return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://" + LOOPBACK + ":" + port
              + path)).timeout(java.time.Duration.ofSeconds(5)).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    } catch (Exception e) {
      return "failed: " + e;
    }
  }

  /** Waits for {@code f}: its result, or its failure thrown. */
  public static <T> T await(Future<T> f, long seconds) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }

  /** Waits for {@code f}: null when it succeeded, else its failure. */
  public static Throwable outcome(Future<?> f, long timeoutMs) throws Exception {
    Promise<Throwable> p = Promise.promise();
    f.onComplete(ar -> p.complete(ar.succeeded() ? null : ar.cause()));
    return p.future().await(timeoutMs, TimeUnit.MILLISECONDS);
  }

  /** Closes {@code nodes} in order, waiting up to 20 s for each; the first failure is thrown. */
  public static void closeAll(List<Node> nodes) throws Exception {
    for (Node n : nodes) {
      await(n.close(), 20);
    }
  }

  /**
   * Closes {@code nodes}, the last started first (a seed member last), waiting up to 20 s for
   * each and ignoring failures: best effort after a test whose verdict is its own.
   */
  public static void closeQuietly(List<Node> nodes) {
    for (int i = nodes.size() - 1; i >= 0; i--) {
      try {
        await(nodes.get(i).close(), 20);
      } catch (Exception ignored) {
        // Best effort; the verdict is the test's.
      }
    }
  }
}
