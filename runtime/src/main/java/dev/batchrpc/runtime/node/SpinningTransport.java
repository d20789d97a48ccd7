package dev.batchrpc.runtime.node;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.SelectStrategy;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.util.IntSupplier;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.SingleThreadEventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import io.vertx.core.datagram.DatagramSocketOptions;
import io.vertx.core.net.ClientOptionsBase;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.SocketAddress;

/**
 * Netty's native epoll transport whose event loops poll (yielding the core) for a short while
 * before they block in {@code epoll_wait}.
 *
 * <p>Why: a step round is a barrier. Between a round's replies and its next arrivals every
 * process of the round sleeps for a few dozen microseconds, the cores go idle, and on a virtual
 * machine an idle core halts: waking it again (the next message) costs the hypervisor tens of
 * microseconds, several times a round (measured with {@code perf sched}: 20-28 us from wake-up to
 * running for each event loop, docs/benchmarks/rl.md). A loop that polls for a short while after
 * its last event keeps its core running through that gap; {@link Thread#yield()} between polls
 * hands the core to any other runnable thread at once, so the poll only uses time nobody else
 * wants.
 *
 * <p>Costs: at most {@code spinNanos} of CPU per idle period; a task submitted from another
 * thread or a timer falling due during the poll runs at the poll's next turn (the poll checks the
 * loop's task queue each turn, timers only when it ends: at most {@code spinNanos} late).
 */
final class SpinningTransport implements io.vertx.core.transport.Transport {

  private final io.vertx.core.spi.transport.Transport epoll;
  private final SpinImpl impl;

  /**
   * @param spinNanos the poll's budget (adaptive: its maximum)
   * @param adaptive whether the budget adapts to the loop's idle periods ({@link SpinStrategy})
   */
  SpinningTransport(io.vertx.core.transport.Transport epoll, long spinNanos, boolean adaptive) {
    this.epoll = epoll.implementation();
    this.impl = new SpinImpl(this.epoll, spinNanos, adaptive);
  }

  @Override
  public String name() {
    return "epoll";
  }

  @Override
  public boolean available() {
    return epoll.isAvailable();
  }

  @Override
  public Throwable unavailabilityCause() {
    return epoll.unavailabilityCause();
  }

  @Override
  public io.vertx.core.spi.transport.Transport implementation() {
    return impl;
  }

  /**
   * Polls with {@code epoll_wait(0)} and yields, for up to the budget, before blocking.
   *
   * <p>Adaptive (the default), the budget follows the loop's idle periods as KVM's halt polling
   * does: it starts at 0; an idle period that ended within {@code maxNanos} but after the budget
   * (the poll gave up too early, or there was none) grows it, to {@link #START_NANOS} and then
   * doubling, up to {@code maxNanos}; an idle period longer than {@code maxNanos} (nothing came
   * that a poll could have caught) sets it back to 0. A loop whose messages come in quick turns
   * (an agent's step rounds, an observer's steps) polls through its gaps; a loop that waits
   * milliseconds (a trainer awaiting its round, an idle service) sleeps at once. Fixed, it polls
   * for {@code maxNanos} every time.
   */
  static final class SpinStrategy implements SelectStrategy {
    /** An adaptive budget's first step up from 0: 10 us (KVM's {@code halt_poll_ns_grow_start}). */
    static final long START_NANOS = 10_000;

    private final long maxNanos;
    private final boolean adaptive;
    private long budget;
    /** When the loop's current idle period began (it found nothing to do), or -1 while busy. */
    private long idleSince = -1;
    private EventExecutor loop;
    /** Work this loop finds by looking ({@link LoopPollers}). */
    private final LoopPollers.Set pollers = new LoopPollers.Set();
    private boolean bound;

    SpinStrategy(long maxNanos, boolean adaptive) {
      this.maxNanos = maxNanos;
      this.adaptive = adaptive;
      this.budget = adaptive ? 0 : maxNanos;
    }

    /** This loop's pollers (tests add to them directly; on a loop, {@link LoopPollers#register}). */
    LoopPollers.Set pollers() {
      return pollers;
    }

    /** The poll's budget now, in nanoseconds. */
    long budgetNanos() {
      return budget;
    }

    @Override
    public int calculateStrategy(IntSupplier selectNow, boolean hasTasks) throws Exception {
      long now = System.nanoTime();
      if (idleSince >= 0) {
        // The loop slept in epoll_wait since idleSince; this call ends that idle period.
        learn(now - idleSince);
        idleSince = -1;
      }
      if (!bound) {
        // On the loop's own thread (a test may call this from its own: no pollers then).
        if (ThreadExecutorMap.currentExecutor() != null) {
          LoopPollers.bind(pollers);
        }
        bound = true;
      }
      pollers.awake();
      boolean found = pollers.poll();
      if (hasTasks || found) {
        return selectNow.get();
      }
      if (budget > 0) {
        if (loop == null) {
          loop = ThreadExecutorMap.currentExecutor();
        }
        do {
          int ready = selectNow.get();
          if (ready > 0) {
            return ready;
          }
          if (loop instanceof SingleThreadEventExecutor s && s.pendingTasks() > 0) {
            return SelectStrategy.CONTINUE;
          }
          if (pollers.poll()) {
            return SelectStrategy.CONTINUE;
          }
          Thread.yield();
        } while (System.nanoTime() - now < budget);
      }
      if (!pollers.trySleep()) {
        return SelectStrategy.CONTINUE;
      }
      if (adaptive) {
        idleSince = now;
      }
      return SelectStrategy.SELECT;
    }

    /** Adapts the budget to an idle period of {@code idleNanos} that the poll did not cover. */
    void learn(long idleNanos) {
      if (idleNanos > maxNanos) {
        budget = 0;
      } else if (idleNanos > budget) {
        budget = budget == 0 ? Math.min(maxNanos, START_NANOS) : Math.min(maxNanos, budget * 2);
      }
    }
  }

  private static final class SpinImpl implements io.vertx.core.spi.transport.Transport {
    private final io.vertx.core.spi.transport.Transport d;
    private final long spinNanos;
    private final boolean adaptive;

    SpinImpl(io.vertx.core.spi.transport.Transport d, long spinNanos, boolean adaptive) {
      this.d = d;
      this.spinNanos = spinNanos;
      this.adaptive = adaptive;
    }

    @Override
    public IoHandlerFactory ioHandlerFactory() {
      SelectStrategyFactory strategies = () -> new SpinStrategy(spinNanos, adaptive);
      return EpollIoHandler.newFactory(0, strategies);
    }

    @Override
    public boolean supportsDomainSockets() {
      return d.supportsDomainSockets();
    }

    @Override
    public boolean supportFileRegion() {
      return d.supportFileRegion();
    }

    @Override
    public boolean isAvailable() {
      return d.isAvailable();
    }

    @Override
    public Throwable unavailabilityCause() {
      return d.unavailabilityCause();
    }

    @Override
    public java.net.SocketAddress convert(SocketAddress address) {
      return d.convert(address);
    }

    @Override
    public SocketAddress convert(java.net.SocketAddress address) {
      return d.convert(address);
    }

    @Override
    public DatagramChannel datagramChannel() {
      return d.datagramChannel();
    }

    @Override
    public DatagramChannel datagramChannel(InternetProtocolFamily family) {
      return d.datagramChannel(family);
    }

    @Override
    public ChannelFactory<? extends Channel> channelFactory(boolean domainSocket) {
      return d.channelFactory(domainSocket);
    }

    @Override
    public ChannelFactory<? extends ServerChannel> serverChannelFactory(boolean domainSocket) {
      return d.serverChannelFactory(domainSocket);
    }

    @Override
    public void configure(DatagramChannel channel, DatagramSocketOptions options) {
      d.configure(channel, options);
    }

    @Override
    public void configure(ClientOptionsBase options, int connectTimeout, boolean domainSocket, Bootstrap bootstrap) {
      d.configure(options, connectTimeout, domainSocket, bootstrap);
    }

    @Override
    public void configure(NetServerOptions options, boolean domainSocket, ServerBootstrap bootstrap) {
      d.configure(options, domainSocket, bootstrap);
    }
  }
}
