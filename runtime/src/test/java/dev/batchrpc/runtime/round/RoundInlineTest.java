package dev.batchrpc.runtime.round;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link Round.Builder#inlineBatchesUpTo}: small batches on the owner, big ones and followers on the worker. */
@ExtendWith(VertxExtension.class)
class RoundInlineTest {

  private static String thread() {
    return Thread.currentThread().getName();
  }

  private static Future<Void> next(Context owner) {
    Promise<Void> p = Promise.promise();
    owner.runOnContext(v -> p.complete());
    return p.future();
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void smallBatchesRunOnTheOwnerAndBigOnesOnTheWorkerInRoundOrder(Vertx vertx, VertxTestContext ctx) {
    Context owner = vertx.getOrCreateContext();
    List<String> ran = new ArrayList<>();
    CountDownLatch release = new CountDownLatch(1);
    BatchFunction<Integer, String> fn = batch -> {
      if (batch.arrivals().get(0).request() == 0) {
        // Round 0 holds the worker until round 1 has closed: round 1 must not overtake it.
        release.await(10, TimeUnit.SECONDS);
      }
      synchronized (ran) {
        ran.add(batch.round() + (Context.isOnEventLoopThread() ? " owner" : " worker"));
      }
      List<String> out = new ArrayList<>();
      for (Arrival<Integer> a : batch.arrivals()) {
        out.add(a.participantId() + ":" + a.request() + "@" + thread());
      }
      if (batch.arrivals().get(0).request() == 9) {
        throw new IllegalStateException("boom");
      }
      return BatchResult.perArrival(out);
    };
    owner.runOnContext(v -> {
      Round<Integer, String> round = Round.builder(owner, RoundConfig.of("inline", "test", 2), fn)
          .inlineBatchesUpTo(1).build();
      String loop = thread();
      // Round 0: 2 arrivals > 1, on the worker (held). Round 1: partial via setExpected(1) while
      // round 0 runs: also the worker (order). Round 2: after both, inline on the owner.
      Future<String> a0 = round.submit("a", 0);
      Future<String> b0 = round.submit("b", 0);
      Future<String> a1 = round.submit("a", 1);
      round.setExpected(1);
      release.countDown();
      Future.all(a0, b0, a1)
          // Not from inside round 1's delivery (its batch is still in flight then, so a round
          // closed there goes to the worker): from the next task on the loop.
          .compose(v2 -> next(owner))
          .compose(v2 -> round.submit("a", 2))
          .compose(a2 -> {
            ctx.verify(() -> {
              assertThat(a0.result()).startsWith("a:0@").doesNotEndWith("@" + loop);
              assertThat(a1.result()).doesNotEndWith("@" + loop);
              assertThat(a2).isEqualTo("a:2@" + loop);
              assertThat(Vertx.currentContext()).isSameAs(owner);
            });
            return next(owner).compose(v3 -> round.submit("a", 9))
                .transform(ar -> Future.succeededFuture(ar.cause()));
          })
          .compose(failure -> {
            ctx.verify(() -> {
              assertThat(RpcException.of(failure).code()).isEqualTo(FailureCode.BATCH_FAILED);
              assertThat(ran).containsExactly("0 worker", "1 worker", "2 owner", "3 owner");
            });
            // The round stays usable after an inline failure.
            return next(owner).compose(v3 -> round.submit("b", 4));
          })
          .onComplete(ctx.succeeding(r -> ctx.verify(() -> {
            assertThat(r).isEqualTo("b:4@" + loop);
            ctx.completeNow();
          })));
    });
  }
}
