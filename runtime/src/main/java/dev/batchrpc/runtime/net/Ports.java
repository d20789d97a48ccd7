package dev.batchrpc.runtime.net;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** Ports for the processes that the benchmarks and the tests start on one machine. */
public final class Ports {

  private Ports() {
  }

  /**
   * A port free on 127.0.0.1 just now, for a Hazelcast member that must listen on exactly its port
   * (no auto-increment) so that the next member can name it as a seed. Another process could take
   * it before it is bound again: good enough for benchmarks and tests on one machine, never for a
   * service's configured port.
   *
   * @return the port
   * @throws IOException when no port can be bound on 127.0.0.1
   */
  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }
}
