package dev.batchrpc.suite.bench;

import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;

/**
 * The loopback-TCP baseline of one parameter-server round: its 2N messages through ONE loopback
 * TCP socket between two processes, with plain blocking {@link SocketChannel}s and direct buffers,
 * no framing, no copies beyond the kernel's. A round is N gradients of P·4 bytes from a child
 * process to this one, then N model replies of P·4 bytes back: what the procs mode's transport
 * must move at the least, on one socket (the real run has N sockets and N processes).
 *
 * <p>Timed in this process: from the one-byte "go" sent to the child to the child's one-byte
 * acknowledgement after it has read the N replies (so two tiny one-way latencies are included);
 * one untimed round first, then the median of {@code reps}.
 */
public final class LoopbackBaseline {

  private LoopbackBaseline() {
  }

  /** Median ms of one round's 2N messages of {@code params}·4 bytes over loopback TCP. */
  public static double measureMs(int trainers, int params, int reps) throws Exception {
    long bytes = (long) params * 4;
    if (bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("a message of " + bytes + " bytes is over 2 GiB");
    }
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1);
      int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
      // the child's heap is small; its one direct buffer is what it needs
      List<String> cmd = JvmFlags.command(List.of("-Xmx64m", "-XX:MaxDirectMemorySize=" + (bytes + (64 << 20)),
          "-XX:TieredStopAtLevel=1"), LoopbackBaseline.class.getName());
      cmd.addAll(List.of(Integer.toString(port), Integer.toString(trainers), Integer.toString(params),
          Integer.toString(reps + 1)));
      ChildJvm child = ChildJvm.start("loopback baseline process", new ProcessBuilder(cmd), null);
      try (ChildWatch watch = new ChildWatch(true)) {
        watch.add(child);
        SocketChannel ch = watch.await(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            return server.accept();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }), 60_000, () -> "the loopback baseline process did not connect in 60 s; its output: " + child.output());
        try (ch) {
          ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
          ByteBuffer buf = ByteBuffer.allocateDirect((int) bytes);
          ByteBuffer one = ByteBuffer.allocateDirect(1);
          double[] ms = new double[reps];
          for (int r = -1; r < reps; r++) {
            long t0 = System.nanoTime();
            one.clear().put((byte) 1).flip();
            writeFully(ch, one);
            for (int i = 0; i < trainers; i++) {
              readFully(ch, buf.clear());
            }
            for (int i = 0; i < trainers; i++) {
              writeFully(ch, buf.clear());
            }
            readFully(ch, one.clear());
            if (r >= 0) {
              ms[r] = (System.nanoTime() - t0) / 1e6;
            }
          }
          Arrays.sort(ms);
          return ms[ms.length / 2];
        }
      } finally {
        child.awaitExit(10_000);
      }
    }
  }

  /** The child: connects, then per "go" byte sends N gradients, reads N replies, acknowledges. */
  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(args[0]);
    int trainers = Integer.parseInt(args[1]);
    int params = Integer.parseInt(args[2]);
    int rounds = Integer.parseInt(args[3]);
    try (SocketChannel ch = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
      ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
      ByteBuffer buf = ByteBuffer.allocateDirect(params * 4);
      for (int i = 0; i < params; i++) {
        buf.putFloat(i * 4, 0.001f * (i % 1000));
      }
      ByteBuffer one = ByteBuffer.allocateDirect(1);
      for (int r = 0; r < rounds; r++) {
        readFully(ch, one.clear());
        for (int i = 0; i < trainers; i++) {
          writeFully(ch, buf.clear());
        }
        for (int i = 0; i < trainers; i++) {
          readFully(ch, buf.clear());
        }
        one.clear().put((byte) 2).flip();
        writeFully(ch, one);
      }
    }
  }

  private static void readFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new EOFException("the peer closed the loopback socket mid-message");
      }
    }
  }

  private static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }
}
