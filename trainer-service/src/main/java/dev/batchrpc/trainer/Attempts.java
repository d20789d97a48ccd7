package dev.batchrpc.trainer;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.util.function.Consumer;

/**
 * One attempt of a call that is retried (the first model fetch while the server is not reachable
 * yet, a fetch during an outage), bounded: a request lost in a cluster that is splitting or merging
 * is given up and retried after {@link #MAX_ATTEMPT_MS} rather than waited on for the whole
 * {@code --timeout-ms} (two minutes by default), which would outlast the retry deadline itself.
 */
final class Attempts {

  /** The longest one attempt of a retried fetch waits for its answer. */
  static final long MAX_ATTEMPT_MS = 10_000;

  private Attempts() {
  }

  /**
   * {@code call}, failed with {@code UNAVAILABLE} if it has not completed within {@code ms}, and
   * then {@code abandoned} runs (the client forgets its connection: {@link PsClient#abandon()}); a
   * result that comes after that goes to {@code late} (to release a pooled reply).
   */
  static <T> Future<T> within(Vertx vertx, Future<T> call, long ms, String what, Consumer<T> late,
      Runnable abandoned) {
    long bound = Math.max(1, ms);
    Promise<T> p = Promise.promise();
    long timer = vertx.setTimer(bound, t -> {
      if (p.future().isComplete()) {
        return;
      }
      // first forget the connection, so that a retry the failure triggers starts afresh
      if (abandoned != null) {
        abandoned.run();
      }
      p.tryFail(new RpcException(FailureCode.UNAVAILABLE,
          what + ": no answer within " + bound + " ms (the attempt is given up and retried)"));
    });
    call.onComplete(ar -> {
      vertx.cancelTimer(timer);
      boolean taken = ar.succeeded() ? p.tryComplete(ar.result()) : p.tryFail(ar.cause());
      if (!taken && ar.succeeded() && late != null) {
        late.accept(ar.result());
      }
    });
    return p.future();
  }
}
