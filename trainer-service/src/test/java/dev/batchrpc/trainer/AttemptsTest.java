package dev.batchrpc.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A retried fetch whose request is lost (found by {@code bench chaos}: a trainer started while the
 * cluster was splitting and merging sent its first fetch into the void and waited its whole
 * --timeout-ms, never exiting within --wait-for-ps-ms): each attempt is bounded by the deadline.
 */
@ExtendWith(VertxExtension.class)
class AttemptsTest {

  /** A server whose first {@code lost} fetches are never answered; later ones are. */
  private static final class LosingServer implements PsClient {
    final AtomicInteger fetches = new AtomicInteger();
    final List<ModelReply> released = new ArrayList<>();
    final List<Promise<ModelReply>> pending = new ArrayList<>();
    final int lost;

    LosingServer(int lost) {
      this.lost = lost;
    }

    @Override
    public Future<ModelReply> getModel(String participantId) {
      Promise<ModelReply> p = Promise.promise();
      if (fetches.incrementAndGet() > lost) {
        p.complete(ModelReply.newBuilder().setModelVersion(0).setParameters(Tensors.vector(new float[1])).build());
      } else {
        pending.add(p);
      }
      return p.future();
    }

    @Override
    public Future<ModelReply> updateAndFetch(UpdateRequest request) {
      return Future.failedFuture("unused");
    }

    final AtomicInteger abandoned = new AtomicInteger();

    @Override
    public void release(ModelReply reply) {
      released.add(reply);
    }

    @Override
    public void abandon() {
      abandoned.incrementAndGet();
    }

    @Override
    public Future<Void> leave(String participantId) {
      return Future.succeededFuture();
    }
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void theFirstFetchGivesUpAtItsDeadlineWhenNoAttemptIsAnswered(Vertx vertx, VertxTestContext ctx) {
    LosingServer server = new LosingServer(Integer.MAX_VALUE);
    long t0 = System.nanoTime();
    TrainerCommand.waitForServer(vertx, server, "t0", t0 + TimeUnit.MILLISECONDS.toNanos(600))
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          double s = (System.nanoTime() - t0) / 1e9;
          assertThat(s).as("at its deadline, not after --timeout-ms").isBetween(0.5, 5.0);
          assertThat(RpcException.of(e).code()).isEqualTo(FailureCode.UNAVAILABLE);
          assertThat(e).hasMessageContaining("cannot reach the parameter server").hasMessageContaining("no answer within");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void aLostAttemptIsRetriedAndALateAnswerIsReleased(Vertx vertx, VertxTestContext ctx) {
    LosingServer server = new LosingServer(1);
    Future<ModelReply> lost = server.getModel("x");
    Attempts.within(vertx, lost, 100, "fetching the model", server::release, server::abandon)
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(e).hasMessageContaining("fetching the model: no answer within 100 ms");
          assertThat(server.abandoned.get()).as("the client forgets its connection").isEqualTo(1);
          // the lost request is answered after all: released, not leaked
          ModelReply late = ModelReply.newBuilder().setModelVersion(7).build();
          server.pending.get(0).complete(late);
          assertThat(server.released).containsExactly(late);
          // and the next attempt gets through
          TrainerCommand.waitForServer(vertx, server, "t0", System.nanoTime() + TimeUnit.SECONDS.toNanos(5))
              .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
                assertThat(server.fetches.get()).isEqualTo(2);
                assertThat(server.released).hasSize(2);
                ctx.completeNow();
              })));
        })));
  }
}
