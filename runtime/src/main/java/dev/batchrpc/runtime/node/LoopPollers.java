package dev.batchrpc.runtime.node;

import java.util.Arrays;

/**
 * Work an event loop finds by looking, not by a socket's readiness: a same-host mailbox in shared
 * memory ({@code runtime.data.StepMailbox}) whose peer writes a request or a reply without a
 * system call. Only the loops of a node that polls ({@code --spin-us} &gt; 0,
 * {@link SpinningTransport}) take pollers: they call each poller's {@link Poller#poll} at every
 * turn of their loop and of their poll, and before they block they tell each poller
 * ({@link Poller#sleeping}) so that its peer knows to wake them with a byte on the socket.
 *
 * <p>Threads: a poller is registered, called and removed on its loop's thread only.
 */
public final class LoopPollers {

  /** Something a loop looks at for work. */
  public interface Poller {
    /**
     * Looks for work; schedules what it finds as a task of the loop (never runs it here: the loop
     * is between its turns, outside any Vert.x context).
     *
     * @return whether it scheduled work
     */
    boolean poll();

    /**
     * The loop is about to block in {@code epoll_wait} ({@code true}; the loop calls
     * {@link #poll} once more after this, so that work that came meanwhile is not slept through),
     * or it woke up or did not block after all ({@code false}).
     */
    void sleeping(boolean asleep);
  }

  /** A loop's pollers (its {@link SpinningTransport.SpinStrategy}'s); loop thread only. */
  static final class Set {
    /** Replaced, not changed, on add and remove (rare); read at every turn of the loop. */
    private Poller[] snapshot = new Poller[0];
    private boolean asleep;

    boolean poll() {
      boolean found = false;
      for (Poller p : snapshot) {
        found |= p.poll();
      }
      return found;
    }

    /** Tells every poller the loop is going to sleep; false (and awake again) if work came meanwhile. */
    boolean trySleep() {
      for (Poller p : snapshot) {
        p.sleeping(true);
      }
      asleep = true;
      if (poll()) {
        awake();
        return false;
      }
      return true;
    }

    void awake() {
      if (asleep) {
        asleep = false;
        for (Poller p : snapshot) {
          p.sleeping(false);
        }
      }
    }

    void add(Poller p) {
      Poller[] more = Arrays.copyOf(snapshot, snapshot.length + 1);
      more[snapshot.length] = p;
      snapshot = more;
    }

    private void remove(Poller p) {
      snapshot = Arrays.stream(snapshot).filter(q -> q != p).toArray(Poller[]::new);
    }
  }

  private static final ThreadLocal<Set> CURRENT = new ThreadLocal<>();

  private LoopPollers() {
  }

  /** Marks the calling thread as a polling loop's, with {@code set} its pollers. */
  static void bind(Set set) {
    CURRENT.set(set);
  }

  /**
   * Whether the calling thread is the event loop of a node that polls: only then does a
   * {@link #register}ed poller get called.
   */
  public static boolean available() {
    return CURRENT.get() != null;
  }

  /**
   * Adds a poller to the calling thread's loop.
   *
   * @return false (nothing added) when the calling thread is not a polling loop's
   */
  public static boolean register(Poller poller) {
    Set set = CURRENT.get();
    if (set == null) {
      return false;
    }
    set.add(poller);
    return true;
  }

  /** Removes a poller from the calling thread's loop (a no-op if it has none). */
  public static void unregister(Poller poller) {
    Set set = CURRENT.get();
    if (set != null) {
      set.remove(poller);
    }
  }
}
