package dev.batchrpc.runtime.net;

import io.vertx.core.Vertx;
import io.vertx.core.shareddata.LocalMap;
import io.vertx.core.shareddata.Shareable;

/**
 * Connection hygiene for every listener a process opens besides Hazelcast and the event bus: the
 * ops endpoint (HTTP), the data channel and gRPC. Each listener holds at most
 * {@code maxConnections} connections at a time (one more is closed as soon as it is accepted), closes
 * a connection idle for {@code idleTimeoutS}, and the ops endpoint closes a connection whose request
 * headers are not complete {@code headerTimeoutS} after it opened (or after its previous response):
 * a peer that opens connections and sends nothing, or drips a header a byte at a time, cannot
 * hold sockets and file descriptors for ever. docs/bad-input.md, "Connections".
 *
 * <p>"Idle" per listener: the data channel closes a connection that has no call waiting for its
 * answer and has read nothing for the timeout (a trainer whose update waits in a long round is
 * never cut; its client reconnects on the next call after a cut while idle); gRPC and the ops
 * endpoint close a connection that has neither read nor written for the timeout, so it must be
 * longer than the longest round ({@code --max-wait-ms}).
 *
 * <p>Set from the command line by {@code --max-connections}, {@code --idle-timeout-s} and
 * {@code --header-timeout-s} ({@link dev.batchrpc.runtime.cli.OpsOptions}), installed on the node's
 * Vert.x instance ({@link #install}) where the servers read it ({@link #of}).
 *
 * @param maxConnections {@code --max-connections}: connections one listener holds at once, 1-1,000,000
 * @param idleTimeoutS {@code --idle-timeout-s}: seconds without traffic before a connection is
 *     closed, 0 for never, at most 86,400
 * @param headerTimeoutS {@code --header-timeout-s}: seconds the ops endpoint waits for a request's
 *     headers, 1-3,600
 */
public record ConnectionLimits(int maxConnections, int idleTimeoutS, int headerTimeoutS) implements Shareable {

  /** The defaults: 1024 connections per listener, 300 s idle, 10 s for request headers. */
  public static final ConnectionLimits DEFAULTS = new ConnectionLimits(1024, 300, 10);

  private static final String MAP = "batchrpc.connection-limits";
  private static final String KEY = "limits";

  /** Validates every setting, naming its flag. */
  public ConnectionLimits {
    if (maxConnections < 1 || maxConnections > 1_000_000) {
      throw new IllegalArgumentException("--max-connections must be 1-1000000, got " + maxConnections);
    }
    if (idleTimeoutS < 0 || idleTimeoutS > 86_400) {
      throw new IllegalArgumentException("--idle-timeout-s must be 0 (never) to 86400 seconds, got " + idleTimeoutS);
    }
    if (headerTimeoutS < 1 || headerTimeoutS > 3_600) {
      throw new IllegalArgumentException("--header-timeout-s must be 1-3600 seconds, got " + headerTimeoutS);
    }
  }

  /**
   * Makes the servers this project creates on {@code vertx} use these limits.
   *
   * @param vertx the node's instance
   * @param limits the limits
   */
  public static void install(Vertx vertx, ConnectionLimits limits) {
    vertx.sharedData().<String, ConnectionLimits>getLocalMap(MAP).put(KEY, java.util.Objects.requireNonNull(limits));
  }

  /** The limits installed on {@code vertx}, or {@link #DEFAULTS}. */
  public static ConnectionLimits of(Vertx vertx) {
    LocalMap<String, ConnectionLimits> map = vertx.sharedData().getLocalMap(MAP);
    ConnectionLimits limits = map.get(KEY);
    return limits == null ? DEFAULTS : limits;
  }

  /**
   * Counts one listener's open connections against {@link #maxConnections}. Thread-safe (a
   * listener's connections may live on several event loops).
   */
  public final class Gate {
    private final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong refused = new java.util.concurrent.atomic.AtomicLong();

    /**
     * Admits a new connection, or not (the caller closes it at once).
     *
     * @return true if admitted: call {@link #closed()} when it closes
     */
    public boolean admit() {
      if (open.incrementAndGet() > maxConnections) {
        open.decrementAndGet();
        refused.incrementAndGet();
        return false;
      }
      return true;
    }

    /** An admitted connection closed. */
    public void closed() {
      open.decrementAndGet();
    }

    /** Connections open now. */
    public int open() {
      return open.get();
    }

    /** Connections refused so far for being over the cap. */
    public long refused() {
      return refused.get();
    }
  }

  /** A new counter of one listener's connections. */
  public Gate gate() {
    return new Gate();
  }
}
