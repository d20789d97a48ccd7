package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.data.DataClient;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The data channel through the server's Unix-domain socket (a client on the server's host):
 * every test of {@link SharedMemoryDataChannelTest} (and so of {@link DataChannelTest}) again,
 * the clients connected through the socket file instead of TCP; and the file goes with the server.
 */
class LocalSocketDataChannelTest extends SharedMemoryDataChannelTest {

  @Override
  String localPath() {
    Path p = dataServer().localPath();
    assertThat(p).as("a node on the native transport without TLS listens on a local socket too").isNotNull();
    return p.toString();
  }

  @Test
  void clientsOnThisHostConnectThroughTheSocketFileWhichGoesWithTheServer() throws Exception {
    DataClient a = connect();
    assertThat(a.endpoint()).isEqualTo("unix:" + localPath());
    assertThat(a.sharedMemory()).isTrue();
    assertCleanRound(a, connect(0));
    Path file = dataServer().localPath();
    assertThat(Files.exists(file)).isTrue();
    dev.batchrpc.runtime.testing.LoopbackNodes.await(dataServer().close(), 10);
    assertThat(Files.exists(file)).as("removed when the server closes").isFalse();
  }

  @Test
  void aPathThatIsNotABatchRpcSocketIsNotConnectedTo() throws Exception {
    DataClient c = dev.batchrpc.runtime.testing.LoopbackNodes.await(DataClient.connect(node.vertx(),
        dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK, verticle.dataPort(), 4L * P,
        new dev.batchrpc.runtime.data.BufferPool(8L * P), 0, "/etc/passwd"), 10);
    clients.add(c);
    assertThat(c.endpoint()).isEqualTo(dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK + ":" + verticle.dataPort());
    assertCleanRound(c, connect());
  }
}
