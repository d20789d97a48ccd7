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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Event loops that poll before they sleep ({@link SpinningTransport}, {@link Nodes#SPIN_US_PROPERTY}). */
class SpinningTransportTest {

  @Test
  void thePollReturnsTheEventsItFindsAndSleepsOnceTheBudgetIsSpent() throws Exception {
    SpinningTransport.SpinStrategy strategy = new SpinningTransport.SpinStrategy(TimeUnit.MILLISECONDS.toNanos(2), false);
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

  /** A poller that finds work at its {@code workAt}-th poll (0: never) and records what it was told. */
  private static final class FakePoller implements LoopPollers.Poller {
    final java.util.List<String> events = new java.util.ArrayList<>();
    int polls;
    int workAt;

    @Override
    public boolean poll() {
      polls++;
      return polls == workAt;
    }

    @Override
    public void sleeping(boolean asleep) {
      events.add((asleep ? "asleep" : "awake") + "@" + polls);
    }
  }

  @Test
  void pollersAreLookedAtWhileTheLoopPollsAndToldBeforeItSleeps() throws Exception {
    SpinningTransport.SpinStrategy strategy = new SpinningTransport.SpinStrategy(TimeUnit.MILLISECONDS.toNanos(2), false);
    FakePoller poller = new FakePoller();
    strategy.pollers().add(poller);
    // Work found at the third look: the loop runs the task it queued; no socket events needed.
    poller.workAt = 3;
    assertThat(strategy.calculateStrategy(() -> 0, false)).isEqualTo(SelectStrategy.CONTINUE);
    assertThat(poller.polls).isEqualTo(3);
    assertThat(poller.events).as("never told to sleep").isEmpty();
    // Nothing comes: after the budget the poller is told the loop sleeps, looked at once more,
    // and the loop blocks; the next turn tells it the loop is awake, before anything else.
    poller.polls = 0;
    poller.workAt = 0;
    assertThat(strategy.calculateStrategy(() -> 0, false)).isEqualTo(SelectStrategy.SELECT);
    int looked = poller.polls;
    assertThat(poller.events).containsExactly("asleep@" + (looked - 1));
    assertThat(strategy.calculateStrategy(() -> 1, false)).isEqualTo(1);
    assertThat(poller.events).containsExactly("asleep@" + (looked - 1), "awake@" + looked);
    // Work that came just as the loop was going to sleep: found by the look after the flag, the
    // loop stays awake and says so.
    poller.events.clear();
    poller.polls = 0;
    SpinningTransport.SpinStrategy noPoll = new SpinningTransport.SpinStrategy(0, false);
    noPoll.pollers().add(poller);
    poller.workAt = 2;
    assertThat(noPoll.calculateStrategy(() -> 0, false)).isEqualTo(SelectStrategy.CONTINUE);
    assertThat(poller.events).containsExactly("asleep@1", "awake@2");
  }

  @Test
  void anAdaptiveBudgetGrowsForShortIdlePeriodsAndDropsToZeroAfterALongOne() throws Exception {
    long max = TimeUnit.MICROSECONDS.toNanos(100);
    SpinningTransport.SpinStrategy strategy = new SpinningTransport.SpinStrategy(max, true);
    // It starts by sleeping at once: no poll.
    AtomicInteger polls = new AtomicInteger();
    assertThat(strategy.calculateStrategy(() -> {
      polls.incrementAndGet();
      return 0;
    }, false)).isEqualTo(SelectStrategy.SELECT);
    assertThat(polls).hasValue(0);
    // Idle periods within the maximum that the poll did not cover: 10 us, then doubling, capped.
    long[] expected = {10_000, 20_000, 40_000, 80_000, 100_000, 100_000};
    for (long e : expected) {
      strategy.learn(TimeUnit.MICROSECONDS.toNanos(90));
      assertThat(strategy.budgetNanos()).isEqualTo(Math.min(e, max));
    }
    // An idle period the budget covered changes nothing.
    strategy.learn(TimeUnit.MICROSECONDS.toNanos(5));
    assertThat(strategy.budgetNanos()).isEqualTo(max);
    // One longer than the maximum (nothing a poll could have caught): back to sleeping at once.
    strategy.learn(TimeUnit.MILLISECONDS.toNanos(3));
    assertThat(strategy.budgetNanos()).isZero();
    // In the loop: a block shorter than the maximum grows the budget when the loop wakes, and
    // from then on an idle period polls.
    strategy = new SpinningTransport.SpinStrategy(TimeUnit.MILLISECONDS.toNanos(50), true);
    assertThat(strategy.calculateStrategy(() -> 0, false)).isEqualTo(SelectStrategy.SELECT);
    Thread.sleep(1);
    assertThat(strategy.calculateStrategy(() -> 1, false)).isEqualTo(1);
    assertThat(strategy.budgetNanos()).isEqualTo(SpinningTransport.SpinStrategy.START_NANOS);
    for (int i = 0; i < 8; i++) {
      strategy.learn(TimeUnit.MILLISECONDS.toNanos(1));
    }
    // 10 us doubled up to the first budget that covers the 1 ms idle periods, and no further.
    assertThat(strategy.budgetNanos()).isEqualTo(TimeUnit.MICROSECONDS.toNanos(1280));
    // Grown to its 50 ms cap, so the poll below outlasts three yields on a busy machine too (in the
    // full suite a yield to the other tests' threads took longer than 1.28 ms once).
    for (int i = 0; i < 6; i++) {
      strategy.learn(TimeUnit.MILLISECONDS.toNanos(45));
    }
    assertThat(strategy.budgetNanos()).isEqualTo(TimeUnit.MILLISECONDS.toNanos(50));
    polls.set(0);
    assertThat(strategy.calculateStrategy(() -> polls.incrementAndGet() == 3 ? 1 : 0, false)).isEqualTo(1);
    assertThat(polls).as("it polled until the event came").hasValue(3);
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

  @ParameterizedTest(name = "adaptive={0}")
  @ValueSource(booleans = {false, true})
  void aPollingVertxServesSocketsTimersAndTasksAndSleepsWhenIdle(boolean adaptive) throws Exception {
    Assumptions.assumeTrue(Transport.EPOLL != null && Transport.EPOLL.available(), "native epoll is not available");
    // A long poll (at most 5 ms) so that the checks below happen while the loop polls.
    Vertx vertx = Vertx.builder()
        .withTransport(new SpinningTransport(Transport.EPOLL, TimeUnit.MILLISECONDS.toNanos(5), adaptive))
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
    assertThat(transportOfANodeStarted(NodeConfig.local(), "30")).contains("SpinningTransport");
    assertThat(transportOfANodeStarted(NodeConfig.local(), null)).doesNotContain("SpinningTransport");
    String before = System.getProperty(Nodes.SPIN_US_PROPERTY);
    System.setProperty(Nodes.SPIN_US_PROPERTY, "often");
    try {
      Future<Node> refused = Nodes.start(NodeConfig.local());
      assertThat(refused.failed()).isTrue();
      assertThat(refused.cause()).hasMessageContaining("-Dbatchrpc.spin-us");
    } finally {
      restore(before);
    }
  }

  @Test
  void aNodeConfiguredWithSpinUsPollsWhateverThePropertySays() throws Exception {
    Assumptions.assumeTrue(Transport.EPOLL != null && Transport.EPOLL.available(), "native epoll is not available");
    // The flag wins over the property, even over a bad one, which then is never read.
    assertThat(transportOfANodeStarted(NodeConfig.local().withSpinUs(30), "often")).contains("SpinningTransport");
    assertThat(transportOfANodeStarted(NodeConfig.local().withSpinUs(30), null)).contains("SpinningTransport");
    assertThatThrownBy(() -> NodeConfig.local().withSpinUs(20_000)).hasMessageContaining("--spin-us");
  }

  /** The transport class of a node started with {@code config} and the property at {@code spinUs} (null: unset). */
  private static String transportOfANodeStarted(NodeConfig config, String spinUs) throws Exception {
    String before = System.getProperty(Nodes.SPIN_US_PROPERTY);
    if (spinUs == null) {
      System.clearProperty(Nodes.SPIN_US_PROPERTY);
    } else {
      System.setProperty(Nodes.SPIN_US_PROPERTY, spinUs);
    }
    Node node;
    try {
      node = LoopbackNodes.await(Nodes.start(config), 30);
    } finally {
      restore(before);
    }
    try {
      return ((VertxInternal) node.vertx()).transport().getClass().getName();
    } finally {
      LoopbackNodes.await(node.close(), 20);
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
