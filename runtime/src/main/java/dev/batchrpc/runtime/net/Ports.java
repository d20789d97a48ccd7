package dev.batchrpc.runtime.net;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/**
 * Ports: free ones for the processes that the benchmarks and the tests start on one machine, and
 * the one way a service says that it cannot listen on its configured port.
 */
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

  /**
   * The failure of a server that could not bind its configured port, naming what, the flag, the
   * host and the port ({@code cannot listen on gRPC port 127.0.0.1:50051 (--grpc-port): address in
   * use}), so an operator knows which setting to change without reading a stack trace.
   *
   * @param failure the bind failure
   * @param what the server, e.g. "gRPC port"
   * @param flag the option that sets the port, e.g. "--grpc-port"
   * @param host the address it tried to bind
   * @param port the port it tried
   * @return an exception to fail the start with (the cause kept)
   */
  public static IllegalStateException bindFailure(Throwable failure, String what, String flag, String host, int port) {
    String why = failure instanceof java.net.BindException || String.valueOf(failure.getMessage()).contains("in use")
        ? "address in use" : String.valueOf(failure.getMessage());
    return new IllegalStateException("cannot listen on " + what + " " + host + ":" + port + " (" + flag + "): " + why,
        failure);
  }

  /**
   * Parses {@code host:port} (the last colon splits, so an IPv6 host needs no brackets), the one
   * way an address given by a user or a peer is read.
   *
   * @param text e.g. {@code 10.0.0.7:50051}
   * @param name what the text is, for the message: a flag ({@code --ps-grpc}) or a field
   *     ({@code grpc_endpoint})
   * @return the address
   * @throws IllegalArgumentException naming {@code name} and the text: no host, no port, or a port
   *     outside 1-65535
   */
  public static io.vertx.core.net.SocketAddress parseHostPort(String text, String name) {
    int colon = text.lastIndexOf(':');
    int port;
    try {
      port = colon <= 0 ? -1 : Integer.parseInt(text.substring(colon + 1));
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port == -1) {
      throw new IllegalArgumentException(name + " must be host:port, got '" + text + "'");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException(name + " port must be 1-65535, got '" + text + "'");
    }
    return io.vertx.core.net.SocketAddress.inetSocketAddress(port, text.substring(0, colon));
  }
}
