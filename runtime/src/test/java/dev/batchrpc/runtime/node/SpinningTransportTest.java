package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.netty.channel.SelectStrategy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.transport.Transport;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Event loops that poll before they sleep ({@link SpinningTransport}, {@link Nodes#SPIN_US_PROPERTY}). */
class SpinningTransportTest {

  @Test
  void thePollReturnsTheEventsItFindsAndSleepsOnceTheBudgetIsSpent() throws Exception {
    SpinningTransport.SpinStrategy strategy = new SpinningTransport.SpinStrategy(TimeUnit.MILLISECONDS.toNanos(2));
    AtomicInteger polls = new AtomicInteger();
    // Work on the third poll: its count is handed to the loop, which then handles those events.
    assertThat(strategy.calculateStrategy(() -> polls.incrementAndGet() == 3 ? 2 : 0, false)).isEqualTo(2);
    assertThat(polls).hasValue(3);
    // Nothing comes: it gives up after its budget, and the loop blocks in epoll_wait.
    long t0 = System.nanoTime();
    assertThat(strategy.calculateStrategy(() -> 0, false)).isEqualTo(SelectStrategy.SELECT);
    assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(2));
    // Tasks waiting: one look at the sockets, no poll.
    polls.set(0);
    assertThat(strategy.calculateStrategy(() -> {
      polls.incrementAndGet();
      return 0;
    }, true)).isZero();
    assertThat(polls).hasValue(1);
  }

  @Test
  void theSettingIsAWholeNumberOfMicrosecondsAndABadOneIsNamed() {
    assertThat(Nodes.spinMicros(null)).isZero();
    assertThat(Nodes.spinMicros(" ")).isZero();
    assertThat(Nodes.spinMicros("50")).isEqualTo(50);
    for (String bad : new String[] {"-1", "fast", "1.5", "10001"}) {
      assertThatThrownBy(() -> Nodes.spinMicros(bad)).as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("-Dbatchrpc.spin-us")
          .hasMessageContaining("'" + bad + "'");
    }
  }

  @Test
  void aPollingVertxServesSocketsTimersAndTasksAndSleepsWhenIdle() throws Exception {
    Assumptions.assumeTrue(Transport.EPOLL != null && Transport.EPOLL.available(), "native epoll is not available");
    // A long poll (5 ms) so that the checks below happen while the loop polls.
    Vertx vertx = Vertx.builder().withTransport(new SpinningTransport(Transport.EPOLL, TimeUnit.MILLISECONDS.toNanos(5)))
        .build();
    try {
      assertThat(vertx.isNativeTransportEnabled()).isTrue();
      // An echo over loopback TCP: the loop's sockets are served.
      NetServer server = vertx.createNetServer()
          .connectHandler(s -> s.handler(s::write));
      int port = LoopbackNodes.await(server.listen(0, "127.0.0.1"), 10).actualPort();
      NetSocket socket = LoopbackNodes.await(vertx.createNetClient().connect(port, "127.0.0.1"), 10);
      for (int i = 0; i < 50; i++) {
        CompletableFuture<Buffer> echo = new CompletableFuture<>();
        socket.handler(echo::complete);
        socket.write(Buffer.buffer("ping " + i));
        assertThat(echo.get(10, TimeUnit.SECONDS).toString()).isEqualTo("ping " + i);
      }
      // A task from a thread outside Vert.x, and a timer, on the same loop.
      io.vertx.core.Context context = vertx.getOrCreateContext();
      CompletableFuture<Long> loopThread = new CompletableFuture<>();
      context.runOnContext(v -> loopThread.complete(Thread.currentThread().getId()));
      long tid = loopThread.get(10, TimeUnit.SECONDS);
      CompletableFuture<Void> timer = new CompletableFuture<>();
      context.runOnContext(v -> vertx.setTimer(20, id -> timer.complete(null)));
      timer.get(10, TimeUnit.SECONDS);
      // Idle: after its poll the loop sleeps, using next to no CPU over 500 ms.
      ThreadMXBean threads = ManagementFactory.getThreadMXBean();
      Assumptions.assumeTrue(threads.isThreadCpuTimeSupported(), "no per-thread CPU time here");
      Thread.sleep(50);
      long cpu0 = threads.getThreadCpuTime(tid);
      Thread.sleep(500);
      long usedMs = TimeUnit.NANOSECONDS.toMillis(threads.getThreadCpuTime(tid) - cpu0);
      assertThat(usedMs).as("CPU ms used by the idle loop in 500 ms").isLessThan(100);
      LoopbackNodes.await(socket.close(), 10);
    } finally {
      LoopbackNodes.await(vertx.close(), 10);
    }
  }

  @Test
  void aNodeStartedWithTheSettingPolls() throws Exception {
    Assumptions.assumeTrue(Transport.EPOLL != null && Transport.EPOLL.available(), "native epoll is not available");
    String before = System.getProperty(Nodes.SPIN_US_PROPERTY);
    System.setProperty(Nodes.SPIN_US_PROPERTY, "30");
    Node node;
    try {
      node = LoopbackNodes.await(Nodes.start(NodeConfig.local()), 30);
    } finally {
      restore(before);
    }
    try {
      assertThat(((VertxInternal) node.vertx()).transport().getClass().getName())
          .contains("SpinningTransport");
    } finally {
      LoopbackNodes.await(node.close(), 20);
    }
    System.setProperty(Nodes.SPIN_US_PROPERTY, "often");
    try {
      Future<Node> refused = Nodes.start(NodeConfig.local());
      assertThat(refused.failed()).isTrue();
      assertThat(refused.cause()).hasMessageContaining("-Dbatchrpc.spin-us");
    } finally {
      restore(before);
    }
  }

  private static void restore(String before) {
    if (before == null) {
      System.clearProperty(Nodes.SPIN_US_PROPERTY);
    } else {
      System.setProperty(Nodes.SPIN_US_PROPERTY, before);
    }
  }
}
