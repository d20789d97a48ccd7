package dev.batchrpc.runtime.bus;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.Deadlines;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Calls between verticles of one plain (not clustered) Vert.x that skip the event bus: a service
 * that also consumes an address registers here under that address, and a caller in the same
 * Vert.x calls it directly, on the service's context, as the event bus would deliver it.
 *
 * <p>Why: in one process the event bus passes a message by reference, yet each request costs a
 * reply handler registered and removed, a timer on each side, a delivery context, headers and
 * the metrics' per-address meter lookups: about a third of the event loop's samples in
 * {@code bench rl}'s one-process deployment (JFR). A direct call costs a task on the service's context and one on
 * the caller's.
 *
 * <p>What stays as on the bus: the service runs on its own context; the caller's future completes
 * on the caller's; a failure keeps its {@link FailureCode} ({@link RpcException}); a call that gets
 * no answer within the caller's timeout fails {@code UNAVAILABLE}, and the service hears that its
 * caller gave up (as {@link Consumers#untilCallerGivesUp} tells it on the bus). What does not: the
 * request is not serialized, so no size limit applies (it is already in this process's memory),
 * and Vert.x's event-bus metrics do not count these calls (the service's own metrics do).
 *
 * <p>Only while exactly one service is registered at the address in that Vert.x does a caller use
 * it ({@link Caller#call} returns null otherwise, and the caller sends on the bus, which then
 * chooses among the consumers as usual); and never on a clustered node, where a consumer of the
 * address may live on another node.
 */
public final class LocalCalls {

  /**
   * A service called directly.
   *
   * @param <Q> the request
   * @param <R> the reply
   */
  @FunctionalInterface
  public interface Service<Q, R> {
    /**
     * Serves one request, on the service's context.
     *
     * @param callerGone completes (on the service's context) if the caller gives up first
     */
    Future<R> call(Q request, Future<Void> callerGone);
  }

  /** A registration; {@link #close()} removes it. */
  public static final class Registration implements AutoCloseable {
    private final Vertx vertx;
    private final String address;
    private final Context context;
    private final Service<Object, Object> service;

    private Registration(Vertx vertx, String address, Context context, Service<Object, Object> service) {
      this.vertx = vertx;
      this.address = address;
      this.context = context;
      this.service = service;
    }

    @Override
    public void close() {
      Map<String, List<Registration>> byAddress = REGISTRY.get(vertx);
      if (byAddress != null) {
        List<Registration> at = byAddress.get(address);
        if (at != null) {
          at.remove(this);
        }
      }
    }
  }

  private static final Map<Vertx, Map<String, List<Registration>>> REGISTRY = new ConcurrentHashMap<>();

  private LocalCalls() {
  }

  /**
   * Registers {@code service} at {@code address} of {@code vertx}, served on the current context
   * (call it from the verticle's start). Close the registration when the verticle stops.
   */
  @SuppressWarnings("unchecked")
  public static <Q, R> Registration register(Vertx vertx, String address, Service<Q, R> service) {
    Context context = Objects.requireNonNull(Vertx.currentContext(), "register from a Vert.x context");
    Registration r = new Registration(vertx, address, context, (Service<Object, Object>) (Service<?, ?>) service);
    // A closed Vert.x takes its registrations with it (its verticles may not all have stopped).
    REGISTRY.computeIfAbsent(vertx, v -> {
      VertxInternals.onClose(v, () -> REGISTRY.remove(v));
      return new ConcurrentHashMap<>();
    }).computeIfAbsent(address, a -> new CopyOnWriteArrayList<>()).add(r);
    return r;
  }

  /**
   * A caller of {@code address} in {@code vertx} whose calls wait {@code timeoutMs} each.
   *
   * @param <Q> the request
   * @param <R> the reply
   */
  public static <Q, R> Caller<Q, R> caller(Vertx vertx, String address, long timeoutMs) {
    return new Caller<>(vertx, address, timeoutMs);
  }

  /**
   * Calls one address directly; see the class comment. Confined to one context (the caller's).
   *
   * @param <Q> the request
   * @param <R> the reply
   */
  public static final class Caller<Q, R> {
    private final Vertx vertx;
    private final String address;
    private final long timeoutMs;
    private Deadlines deadlines;

    private Caller(Vertx vertx, String address, long timeoutMs) {
      this.vertx = vertx;
      this.address = address;
      this.timeoutMs = timeoutMs;
    }

    /**
     * Calls the one service registered at the address, or returns null (none or several
     * registered, or a clustered node): then send on the event bus.
     *
     * @return the reply, completed on the caller's context
     */
    @SuppressWarnings("unchecked")
    public Future<R> call(Q request) {
      Registration r = only();
      if (r == null) {
        return null;
      }
      Promise<R> reply = VertxInternals.promise(vertx.getOrCreateContext());
      Promise<Void> gone = Promise.promise();
      Deadlines.Deadline deadline = deadlines().add(() -> {
        if (reply.tryFail(new RpcException(FailureCode.UNAVAILABLE, address + " got no reply within "
            + timeoutMs + " ms"))) {
          r.context.runOnContext(v -> gone.tryComplete());
        }
      });
      r.context.runOnContext(v -> {
        Future<Object> f;
        try {
          f = r.service.call(request, gone.future());
        } catch (RuntimeException e) {
          f = Future.failedFuture(e);
        }
        f.onComplete(ar -> {
          deadline.cancel();
          if (ar.succeeded()) {
            reply.tryComplete((R) ar.result());
          } else {
            reply.tryFail(RpcException.of(ar.cause()));
          }
        });
      });
      return reply.future();
    }

    private Registration only() {
      if (vertx.isClustered()) {
        return null;
      }
      Map<String, List<Registration>> byAddress = REGISTRY.get(vertx);
      List<Registration> at = byAddress == null ? null : byAddress.get(address);
      if (at == null || at.size() != 1) {
        return null;
      }
      try {
        return at.get(0);
      } catch (IndexOutOfBoundsException e) {
        return null; // removed meanwhile
      }
    }

    private Deadlines deadlines() {
      if (deadlines == null) {
        deadlines = new Deadlines(vertx, timeoutMs);
      }
      return deadlines;
    }

    /** Drops the timer of the calls still waiting (their owner fails them). */
    public void close() {
      if (deadlines != null) {
        deadlines.close();
      }
    }
  }
}
