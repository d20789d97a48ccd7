package dev.batchrpc.runtime.net;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.data.DataServer;
import dev.batchrpc.runtime.grpc.GrpcServices;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.ops.OpsServer;
import dev.batchrpc.runtime.ops.Readiness;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.http.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 11, rows 10 and 11: connections that send nothing, drip a header or pile up are closed by
 * every listener of a process (ops endpoint, data channel, gRPC); a busy event-bus or Hazelcast
 * port fails the start naming its flag and the port.
 */
@ExtendWith(LoopbackNodes.class)
class ConnectionHygieneTest {

  private final List<Socket> sockets = new ArrayList<>();
  private Node node;

  @AfterEach
  void close() throws Exception {
    for (Socket s : sockets) {
      s.close();
    }
    if (node != null) {
      LoopbackNodes.await(node.close(), 20);
    }
  }

  private Node local(ConnectionLimits limits) throws Exception {
    node = LoopbackNodes.await(Nodes.start(NodeConfig.local()), 20);
    ConnectionLimits.install(node.vertx(), limits);
    return node;
  }

  private Socket connect(int port) throws IOException {
    Socket s = new Socket(LoopbackNodes.LOOPBACK, port);
    sockets.add(s);
    return s;
  }

  /** True when the server closed {@code s} within {@code ms} (a read sees the end of the stream). */
  private static boolean closedByServer(Socket s, long ms) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    InputStream in = s.getInputStream();
    while (System.nanoTime() < deadline) {
      s.setSoTimeout(100);
      try {
        if (in.read() < 0) {
          return true;
        }
      } catch (SocketTimeoutException stillOpen) {
        // keep waiting
      } catch (IOException reset) {
        return true;
      }
    }
    return false;
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theOpsEndpointClosesADrippedHeaderAtTheHeaderTimeoutAndStillServes() throws Exception {
    Node n = local(new ConnectionLimits(16, 300, 1));
    OpsServer ops = LoopbackNodes.await(OpsServer.start(n, LoopbackNodes.LOOPBACK, 0, new Readiness()), 20);
    Socket dripper = connect(ops.port());
    Socket silent = connect(ops.port());
    OutputStream out = dripper.getOutputStream();
    byte[] header = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".getBytes(
        StandardCharsets.US_ASCII);
    long start = System.nanoTime();
    boolean closed = false;
    // One byte every 100 ms (an idle timeout alone would never fire) for up to 10 s.
    for (int i = 0; i < header.length && !closed; i++) {
      try {
        out.write(header[i]);
        out.flush();
      } catch (IOException e) {
        closed = true;
        break;
      }
      closed = closedByServer(dripper, 100);
    }
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(closed).as("the dripped header's connection is closed").isTrue();
    assertThat(tookMs).as("at the 1 s header timeout").isBetween(800L, 4_000L);
    assertThat(closedByServer(silent, 2_000)).as("a connection that sends nothing too").isTrue();
    assertThat(LoopbackNodes.get(ops.port(), "/health/live")).contains("UP");
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theOpsEndpointHoldsAtMostMaxConnections() throws Exception {
    Node n = local(new ConnectionLimits(3, 300, 30));
    OpsServer ops = LoopbackNodes.await(OpsServer.start(n, LoopbackNodes.LOOPBACK, 0, new Readiness()), 20);
    List<Socket> held = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      held.add(connect(ops.port()));
    }
    Socket fourth = connect(ops.port());
    assertThat(closedByServer(fourth, 3_000)).as("the 4th connection is closed at once").isTrue();
    for (Socket s : held) {
      assertThat(closedByServer(s, 100)).as("the first three stay").isFalse();
    }
    held.get(0).close();
    // A slot is free again: a request is served.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    String live;
    do {
      live = LoopbackNodes.get(ops.port(), "/health/live");
    } while (!live.contains("UP") && System.nanoTime() < deadline);
    assertThat(live).contains("UP");
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theDataChannelClosesIdleConnectionsAndHoldsAtMostMaxConnections() throws Exception {
    Node n = local(new ConnectionLimits(2, 1, 10));
    DataServer server = LoopbackNodes.await(DataServer.listen(n.vertx(), LoopbackNodes.LOOPBACK, 0, Map.of(),
        1024, 4096, 4096, 1, null), 20);
    Socket idle = connect(server.port());
    long start = System.nanoTime();
    Socket second = connect(server.port());
    Socket third = connect(server.port());
    assertThat(closedByServer(third, 500)).as("over --max-connections 2: closed at once").isTrue();
    assertThat(closedByServer(idle, 5_000)).as("idle for --idle-timeout-s 1: closed").isTrue();
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(tookMs).isBetween(800L, 5_000L);
    assertThat(closedByServer(second, 2_000)).isTrue();
    // Both slots free again, once the server has handled the closes (this side sees a close as
    // soon as the server sends it, a moment before the server counts the connection gone).
    LoopbackNodes.waitUntil("the data server to count its closed connections gone", 5,
        () -> server.openConnections() == 0);
    Socket again = connect(server.port());
    assertThat(closedByServer(again, 300)).as("accepted again").isFalse();
    LoopbackNodes.await(server.close(), 10);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void gRpcHoldsAtMostMaxConnections() throws Exception {
    Node n = local(new ConnectionLimits(2, 300, 10));
    HttpServer grpc = LoopbackNodes.await(GrpcServices.listen(n.vertx(),
        new dev.batchrpc.proto.v1.ParameterServerGrpcService() { }, 1024,
        LoopbackNodes.LOOPBACK, 0), 20);
    // HTTP/2 connections (the client preface and an empty SETTINGS frame), as a gRPC client opens.
    // The server admits connections in the order it sets them up, which under load need not be
    // the order of the connects (once, in the full suite, the third was not the one closed): one
    // of the three is closed at once, the other two stay.
    List<Socket> three = List.of(h2(grpc.actualPort()), h2(grpc.actualPort()), h2(grpc.actualPort()));
    Socket closed = null;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (closed == null && System.nanoTime() < deadline) {
      for (Socket s : three) {
        if (closed == null && closedByServer(s, 50)) {
          closed = s;
        }
      }
    }
    assertThat(closed).as("over --max-connections 2: one of three closed at once").isNotNull();
    for (Socket s : three) {
      if (s != closed) {
        assertThat(closedByServer(s, 100)).as("the two admitted stay open").isFalse();
      }
    }
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void aBusyEventBusPortOrHazelcastPortFailsTheStartNamingTheFlagAndThePort() throws Exception {
    try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getByName(LoopbackNodes.LOOPBACK))) {
      int port = busy.getLocalPort();
      String cluster = LoopbackNodes.clusterName("bind");
      NodeConfig eventBus = LoopbackNodes.config(cluster, Ports.freePort(), List.of()).withEventBusPort(port);
      Throwable e = outcome(Nodes.start(eventBus));
      assertThat(e).hasMessageContaining("--event-bus-port").hasMessageContaining("127.0.0.1:" + port)
          .hasMessageContaining("address in use");
      Throwable hz = outcome(Nodes.start(LoopbackNodes.config(cluster, port, List.of())));
      assertThat(hz).hasMessageContaining("--cluster-port").hasMessageContaining("127.0.0.1:" + port)
          .hasMessageContaining("address in use");
    }
  }

  private Socket h2(int port) throws IOException {
    Socket s = connect(port);
    OutputStream out = s.getOutputStream();
    out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
    out.flush();
    return s;
  }

  private static Throwable outcome(Future<Node> start) throws Exception {
    Throwable e = LoopbackNodes.outcome(start, 60_000);
    if (e == null) {
      LoopbackNodes.await(start.result().close(), 20);
      throw new AssertionError("the node started on a busy port");
    }
    return e;
  }
}
