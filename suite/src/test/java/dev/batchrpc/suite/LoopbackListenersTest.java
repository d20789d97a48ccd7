package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Services listen on loopback unless told otherwise: a clustered parameter server with gRPC and
 * the ops endpoint, every host setting left at its default, has only 127.0.0.1 listening sockets
 * (Hazelcast, the event bus, gRPC, metrics), read from the kernel's socket table (Linux).
 */
class LoopbackListenersTest {

  /** 127.0.0.1 as /proc/net/tcp writes it, and as an IPv4-mapped address in /proc/net/tcp6. */
  private static final Set<String> LOOPBACK = Set.of("0100007F", "0000000000000000FFFF00000100007F");
  private static final String LISTEN = "0A";
  private static final Pattern SOCKET = Pattern.compile("socket:\\[(\\d+)]");

  private ChildJvm ps;

  @AfterEach
  void stop() throws InterruptedException {
    if (ps != null) {
      ps.close();
    }
  }

  /** One listening socket: its address as the kernel writes it (hex IP), and its port. */
  record Listener(String ip, int port) {
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void everyListenerOfAClusteredServiceIsOnLoopbackByDefault() throws Exception {
    assumeThat(Files.isReadable(Path.of("/proc/self/net/tcp"))).as("Linux /proc/net/tcp").isTrue();
    // Only what several test processes on one machine would fight over is set: the ports (0: any
    // free one) and a private cluster name. No host or address setting.
    ps = SuiteProcess.start("ps", List.of("ps", "--clustered", "--trainers", "1", "--device", "cpu",
        "--model", "replay", "--replay-params", "10", "--grpc-port", "0", "--metrics-port", "0",
        "--cluster-port", String.valueOf(Ports.freePort()), "--cluster-name", LoopbackNodes.clusterName("loopback")), Map.of());
    assertThat(ps.awaitLine(l -> l.startsWith("ps: serving"), 60_000)).as(ps.output()).isNotNull();

    List<Listener> listeners = listeners(ps.pid());
    // Hazelcast, the clustered event bus, gRPC and the ops endpoint.
    assertThat(listeners).as(ps.output()).hasSizeGreaterThanOrEqualTo(4);
    assertThat(listeners).as("listening sockets (hex IP as in /proc/net/tcp)").allSatisfy(l ->
        assertThat(LOOPBACK).as("%s", l).contains(l.ip()));
    int grpcPort = Integer.parseInt(match(ps.output(), "gRPC on [^:]+:(\\d+)"));
    int opsPort = Integer.parseInt(match(ps.output(), "metrics on http://[^:]+:(\\d+)"));
    assertThat(listeners).extracting(Listener::port).contains(grpcPort, opsPort);
  }

  /** The TCP sockets of process {@code pid} in state LISTEN, from /proc (tcp and tcp6). */
  private static List<Listener> listeners(long pid) throws IOException {
    Set<String> inodes = new HashSet<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          Matcher m = SOCKET.matcher(Files.readSymbolicLink(fd).toString());
          if (m.matches()) {
            inodes.add(m.group(1));
          }
        } catch (IOException closedMeanwhile) {
          // The descriptor went away while listing.
        }
      }
    }
    List<Listener> out = new ArrayList<>();
    for (String table : List.of("tcp", "tcp6")) {
      Path file = Path.of("/proc", Long.toString(pid), "net", table);
      if (!Files.isReadable(file)) {
        continue;
      }
      List<String> lines = Files.readAllLines(file);
      for (String line : lines.subList(1, lines.size())) {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        String[] f = line.trim().split("\\s+");
        if (f[3].equals(LISTEN) && inodes.contains(f[9])) {
          String[] local = f[1].split(":");
          out.add(new Listener(local[0], Integer.parseInt(local[1], 16)));
        }
      }
    }
    return out;
  }

  private static String match(String text, String regex) {
    Matcher m = Pattern.compile(regex).matcher(text);
    assertThat(m.find()).as("'%s' in%n%s", regex, text).isTrue();
    return m.group(1);
  }
}
