package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.testing.LoopbackNodes;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

/**
 * Nodes run on Netty's native epoll transport where its native file exists (Linux x86-64): the
 * dependency, its release (every Netty module of the native file's) and the option together.
 */
class NativeTransportTest {

  @Test
  @EnabledOnOs(OS.LINUX)
  void aNodeOnLinuxX86RunsOnNativeEpoll() throws Exception {
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    org.junit.jupiter.api.Assumptions.assumeTrue(arch.equals("amd64") || arch.equals("x86_64"),
        "the native epoll file is shipped for x86-64 only; this JVM is " + arch);
    Node node = LoopbackNodes.await(Nodes.start(NodeConfig.local()), 30);
    try {
      assertThat(node.vertx().isNativeTransportEnabled())
          .as("native transport (why not: %s)", node.vertx().unavailableNativeTransportCause())
          .isTrue();
    } finally {
      LoopbackNodes.await(node.close(), 20);
    }
  }
}
