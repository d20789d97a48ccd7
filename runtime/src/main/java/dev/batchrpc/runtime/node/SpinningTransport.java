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

  SpinningTransport(io.vertx.core.transport.Transport epoll, long spinNanos) {
    this.epoll = epoll.implementation();
    this.impl = new SpinImpl(this.epoll, spinNanos);
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

  /** Polls with {@code epoll_wait(0)} and yields, for up to the budget, before blocking. */
  static final class SpinStrategy implements SelectStrategy {
    private final long spinNanos;
    private EventExecutor loop;

    SpinStrategy(long spinNanos) {
      this.spinNanos = spinNanos;
    }

    @Override
    public int calculateStrategy(IntSupplier selectNow, boolean hasTasks) throws Exception {
      if (hasTasks) {
        return selectNow.get();
      }
      if (loop == null) {
        loop = ThreadExecutorMap.currentExecutor();
      }
      long start = System.nanoTime();
      do {
        int ready = selectNow.get();
        if (ready > 0) {
          return ready;
        }
        if (loop instanceof SingleThreadEventExecutor s && s.pendingTasks() > 0) {
          return SelectStrategy.CONTINUE;
        }
        Thread.yield();
      } while (System.nanoTime() - start < spinNanos);
      return SelectStrategy.SELECT;
    }
  }

  private static final class SpinImpl implements io.vertx.core.spi.transport.Transport {
    private final io.vertx.core.spi.transport.Transport d;
    private final long spinNanos;

    SpinImpl(io.vertx.core.spi.transport.Transport d, long spinNanos) {
      this.d = d;
      this.spinNanos = spinNanos;
    }

    @Override
    public IoHandlerFactory ioHandlerFactory() {
      SelectStrategyFactory strategies = () -> new SpinStrategy(spinNanos);
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
