package dev.batchrpc.trainer;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What this module's cluster tests share: free loopback ports, and (as an extension) Hazelcast
 * nodes of the test JVM joining without their default pause of several seconds.
 */
final class LoopbackCluster implements BeforeAllCallback, AfterAllCallback {

  static final String LOOPBACK = "127.0.0.1";
  private static final String JOIN_PAUSE = "hazelcast.wait.seconds.before.join";

  /** A port free on 127.0.0.1 just now. */
  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
      return s.getLocalPort();
    }
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    System.setProperty(JOIN_PAUSE, "0");
  }

  @Override
  public void afterAll(ExtensionContext context) {
    System.clearProperty(JOIN_PAUSE);
  }
}
