package dev.batchrpc.runtime.bus;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Direct calls in one Vert.x: served on the service's context, answered on the caller's, failures
 * keep their codes, a caller's timeout fails the call and tells the service, and with no service
 * or more than one at the address the caller is told to use the event bus.
 */
class LocalCallsTest {

  private static final String ADDRESS = "test.local";
  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() {
    vertx.close().await();
  }

  /** Registers {@code service} on a context of its own; returns that context and the registration. */
  private record Served(Context context, LocalCalls.Registration registration) {
  }

  private Served serve(LocalCalls.Service<String, String> service) throws Exception {
    Context c = vertx.getOrCreateContext();
    Promise<LocalCalls.Registration> p = Promise.promise();
    c.runOnContext(v -> p.complete(LocalCalls.register(vertx, ADDRESS, service)));
    return new Served(c, LoopbackNodes.await(p.future(), 10));
  }

  /** Makes one call from a fresh context; returns its outcome and where it completed. */
  private Future<String> callFrom(Context caller, long timeoutMs, String request, AtomicReference<Context> completedOn) {
    Promise<String> outcome = Promise.promise();
    caller.runOnContext(v -> {
      Future<String> f = LocalCalls.<String, String>caller(vertx, ADDRESS, timeoutMs).call(request);
      if (f == null) {
        outcome.fail("use the bus");
        return;
      }
      f.onComplete(ar -> {
        completedOn.set(Vertx.currentContext());
        outcome.handle(ar);
      });
    });
    return outcome.future();
  }

  @Test
  void aCallIsServedOnTheServicesContextAndAnsweredOnTheCallers() throws Exception {
    AtomicReference<Context> servedOn = new AtomicReference<>();
    Served s = serve((q, gone) -> {
      servedOn.set(Vertx.currentContext());
      return Future.succeededFuture(q + "!");
    });
    Context caller = vertx.getOrCreateContext();
    AtomicReference<Context> completedOn = new AtomicReference<>();
    assertThat(LoopbackNodes.await(callFrom(caller, 5_000, "hi", completedOn), 10)).isEqualTo("hi!");
    assertThat(servedOn.get()).isSameAs(s.context());
    assertThat(completedOn.get()).isSameAs(caller);
  }

  @Test
  void failuresKeepTheirCodes() throws Exception {
    serve((q, gone) -> {
      if (q.equals("throw")) {
        throw new IllegalArgumentException("bad " + q);
      }
      return Future.failedFuture(new RpcException(FailureCode.DUPLICATE, "twice"));
    });
    Context caller = vertx.getOrCreateContext();
    AtomicReference<Context> on = new AtomicReference<>();
    Throwable refused = LoopbackNodes.await(callFrom(caller, 5_000, "x", on).transform(ar -> Future.succeededFuture(ar.cause())), 10);
    assertThat(RpcException.of(refused).code()).isEqualTo(FailureCode.DUPLICATE);
    Throwable thrown = LoopbackNodes.await(callFrom(caller, 5_000, "throw", on).transform(ar -> Future.succeededFuture(ar.cause())), 10);
    assertThat(RpcException.of(thrown).code()).isEqualTo(FailureCode.BAD_REQUEST);
    assertThat(thrown).hasMessageContaining("bad throw");
  }

  @Test
  void aCallerThatGivesUpFailsUnavailableAndTheServiceHearsItOnItsContext() throws Exception {
    AtomicReference<Context> goneOn = new AtomicReference<>();
    Promise<Void> heard = Promise.promise();
    Served s = serve((q, gone) -> {
      gone.onComplete(x -> {
        goneOn.set(Vertx.currentContext());
        heard.tryComplete();
      });
      return Promise.<String>promise().future(); // never answered
    });
    AtomicReference<Context> on = new AtomicReference<>();
    long t0 = System.nanoTime();
    Throwable failure = LoopbackNodes.await(callFrom(vertx.getOrCreateContext(), 100, "wait", on)
        .transform(ar -> Future.succeededFuture(ar.cause())), 10);
    assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(100_000_000L);
    assertThat(RpcException.of(failure).code()).isEqualTo(FailureCode.UNAVAILABLE);
    assertThat(failure).hasMessageContaining("no reply within 100 ms");
    LoopbackNodes.await(heard.future(), 10);
    assertThat(goneOn.get()).isSameAs(s.context());
  }

  @Test
  void withNoServiceOrTwoTheCallerIsToldToUseTheBus() throws Exception {
    AtomicReference<Context> on = new AtomicReference<>();
    Context caller = vertx.getOrCreateContext();
    assertThat(LoopbackNodes.await(callFrom(caller, 5_000, "a", on).recover(e -> Future.succeededFuture(e.getMessage())), 10))
        .isEqualTo("use the bus");
    Served one = serve((q, gone) -> Future.succeededFuture("one"));
    Served two = serve((q, gone) -> Future.succeededFuture("two"));
    assertThat(LoopbackNodes.await(callFrom(caller, 5_000, "a", on).recover(e -> Future.succeededFuture(e.getMessage())), 10))
        .isEqualTo("use the bus");
    two.registration().close();
    assertThat(LoopbackNodes.await(callFrom(caller, 5_000, "a", on), 10)).isEqualTo("one");
    one.registration().close();
    assertThat(LoopbackNodes.await(callFrom(caller, 5_000, "a", on).recover(e -> Future.succeededFuture(e.getMessage())), 10))
        .isEqualTo("use the bus");
  }
}
