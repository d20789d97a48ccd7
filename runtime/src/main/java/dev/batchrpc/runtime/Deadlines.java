package dev.batchrpc.runtime;

import io.vertx.core.Vertx;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

/**
 * The timeouts of a client's calls, which all wait the same time: one Vert.x timer for all of
 * them, armed for the oldest call still waiting, instead of one timer set and cancelled per call
 * (a Netty scheduled task each, a few microseconds of a step's path at tens of thousands of calls
 * a second; measured with JFR in {@code bench rl}).
 *
 * <p>Since every call waits the same time, deadlines come in the order calls are made: the queue
 * is that order, and the timer only ever needs its head. An answered call is {@link Deadline#cancel
 * cancelled} (its action dropped); it leaves the queue when it reaches the head, or at a
 * compaction when answered calls outnumber waiting ones (one call that waits long, a parameter
 * server's update in a slow round, does not make the queue hold every call answered after it).
 *
 * <p>Thread-safety: calls may be added and cancelled from any thread; an expiry action runs on
 * the timer's context (the one that armed it), outside the lock.
 */
public final class Deadlines {

  /** One call's deadline. */
  public static final class Deadline {
    private final long dueNanos;
    private Runnable onExpiry;

    private Deadline(long dueNanos, Runnable onExpiry) {
      this.dueNanos = dueNanos;
      this.onExpiry = onExpiry;
    }

    /** The call was answered: its expiry action will not run. */
    public void cancel() {
      synchronized (this) {
        onExpiry = null;
      }
    }

    /** Takes the action to run, at most once. */
    private Runnable take() {
      synchronized (this) {
        Runnable r = onExpiry;
        onExpiry = null;
        return r;
      }
    }

    private boolean waiting() {
      synchronized (this) {
        return onExpiry != null;
      }
    }
  }

  private final Vertx vertx;
  private final long timeoutNanos;
  private final ArrayDeque<Deadline> queue = new ArrayDeque<>();
  /** The armed timer, or -1. */
  private long timerId = -1;
  /** Queue length at which answered calls are compacted out next. */
  private int compactAt = 64;
  private boolean closed;

  /**
   * @param vertx whose timer fires the expiries
   * @param timeoutMs how long every call waits, &gt; 0
   */
  public Deadlines(Vertx vertx, long timeoutMs) {
    if (timeoutMs <= 0) {
      throw new IllegalArgumentException("timeoutMs must be > 0, was " + timeoutMs);
    }
    this.vertx = vertx;
    this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMs);
  }

  /** How long each call waits, in ms. */
  public long timeoutMs() {
    return TimeUnit.NANOSECONDS.toMillis(timeoutNanos);
  }

  /**
   * Starts a call's wait.
   *
   * @param onExpiry what to run if it is not cancelled within the timeout
   * @return its deadline, to {@link Deadline#cancel} when the call is answered
   */
  public Deadline add(Runnable onExpiry) {
    Deadline d = new Deadline(System.nanoTime() + timeoutNanos, onExpiry);
    synchronized (this) {
      if (closed) {
        return d;
      }
      while (!queue.isEmpty() && !queue.peekFirst().waiting()) {
        queue.pollFirst();
      }
      if (queue.size() >= compactAt) {
        queue.removeIf(q -> !q.waiting());
        compactAt = Math.max(64, 2 * queue.size());
      }
      queue.addLast(d);
      if (timerId < 0) {
        arm(queue.peekFirst().dueNanos);
      }
    }
    return d;
  }

  /** Runs nothing more: the timer is cancelled, waiting calls are dropped (their owner fails them). */
  public void close() {
    synchronized (this) {
      closed = true;
      queue.clear();
      if (timerId >= 0) {
        vertx.cancelTimer(timerId);
        timerId = -1;
      }
    }
  }

  /** The number of calls held (waiting, or answered and not yet dropped); for the tests. */
  synchronized int held() {
    return queue.size();
  }

  private void arm(long dueNanos) {
    long delayMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(dueNanos - System.nanoTime() + 999_999));
    timerId = vertx.setTimer(delayMs, this::fire);
  }

  private void fire(long id) {
    java.util.List<Runnable> expired = new java.util.ArrayList<>();
    synchronized (this) {
      if (id != timerId || closed) {
        return;
      }
      timerId = -1;
      long now = System.nanoTime();
      for (Iterator<Deadline> it = queue.iterator(); it.hasNext(); ) {
        Deadline d = it.next();
        if (d.waiting() && d.dueNanos - now > 0) {
          break;
        }
        it.remove();
        Runnable r = d.take();
        if (r != null) {
          expired.add(r);
        }
      }
      if (!queue.isEmpty()) {
        arm(queue.peekFirst().dueNanos);
      }
    }
    for (Runnable r : expired) {
      r.run();
    }
  }
}
