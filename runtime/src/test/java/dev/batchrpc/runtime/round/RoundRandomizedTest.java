package dev.batchrpc.runtime.round;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Thousands of rounds with random sizes, random arrival order from four event loops, duplicates and
 * failing batches, checked against invariants: every request completes exactly once, on the
 * context that submitted it, with its own result or the right failure; none is lost.
 */
@ExtendWith(VertxExtension.class)
class RoundRandomizedTest {

  private static final long SEED = 20261126L;
  private static final int WAVES = 1200;

  /** One request; {@code poison} makes the batch of its round throw. */
  private record Req(int id, String participant, int wave, int expected, boolean poison) {
  }

  private record Reply(int requestId, long round, int size) {
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void everyFutureCompletesExactlyOnceWithItsOwnResult(Vertx vertx) {
    List<Throwable> unexpected = new CopyOnWriteArrayList<>();
    vertx.exceptionHandler(unexpected::add);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    Context owner = vertx.getOrCreateContext();
    List<Context> callers = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      callers.add(vertx.getOrCreateContext());
    }

    // Written on the worker thread only; read after every wave completed (happens-before via the
    // futures).
    List<RoundBatch<Req>> batches = new CopyOnWriteArrayList<>();
    Set<String> threads = ConcurrentHashMap.newKeySet();
    AtomicInteger running = new AtomicInteger();
    AtomicInteger overlaps = new AtomicInteger();
    BatchFunction<Req, Reply> batch = b -> {
      if (running.incrementAndGet() != 1) {
        overlaps.incrementAndGet();
      }
      try {
        threads.add(Thread.currentThread().getName());
        batches.add(b);
        if (b.arrivals().stream().anyMatch(a -> a.request().poison())) {
          throw new IllegalStateException("poisoned round " + b.round());
        }
        List<Reply> out = new ArrayList<>();
        for (Arrival<Req> a : b.arrivals()) {
          out.add(new Reply(a.request().id(), b.round(), b.size()));
        }
        return BatchResult.perArrival(out);
      } finally {
        running.decrementAndGet();
      }
    };
    Round<Req, Reply> round = Round.builder(owner, RoundConfig.of("random", "test", 1), batch)
        .meterRegistry(registry).build();

    Random rnd = new Random(SEED);
    int capacity = WAVES * 40;
    AtomicIntegerArray completions = new AtomicIntegerArray(capacity);
    AtomicIntegerArray wrongContext = new AtomicIntegerArray(capacity);
    AtomicReferenceArray<AsyncResult<Reply>> outcomes = new AtomicReferenceArray<>(capacity);
    List<Req> all = new ArrayList<>();
    int nextId = 0;

    for (int wave = 0; wave < WAVES; wave++) {
      int n = 1 + rnd.nextInt(6);
      round.setExpected(n).await();
      List<Req> reqs = new ArrayList<>();
      int roundsInWave = 1 + rnd.nextInt(3);
      for (int r = 0; r < roundsInWave; r++) {
        for (int p = 0; p < n; p++) {
          reqs.add(new Req(nextId++, "p" + p, wave, n, rnd.nextInt(40) == 0));
        }
      }
      for (int d = rnd.nextInt(3); d > 0; d--) {
        reqs.add(new Req(nextId++, "p" + rnd.nextInt(n), wave, n, false));
      }
      Collections.shuffle(reqs, rnd);

      List<Future<Future<Reply>>> submitted = new ArrayList<>();
      for (Req q : reqs) {
        Context caller = callers.get(rnd.nextInt(callers.size()));
        Promise<Future<Reply>> holder = Promise.promise();
        caller.runOnContext(v -> holder.complete(round.submit(q.participant(), q)
            .andThen(ar -> record(q, ar, caller, completions, wrongContext, outcomes))));
        submitted.add(holder.future());
      }
      List<Future<Reply>> replies = new ArrayList<>();
      for (Future<Future<Reply>> f : submitted) {
        replies.add(f.await());
      }
      // Every submit above was queued to the owner before this call: what is open now is final.
      int open = round.openArrivals().await();
      for (int k = open; k > 0 && k < n; k++) {
        Req filler = new Req(nextId++, "filler" + nextId, wave, n, false);
        reqs.add(filler);
        replies.add(round.submit(filler.participant(), filler)
            .andThen(ar -> record(filler, ar, owner, completions, wrongContext, outcomes)));
      }
      all.addAll(reqs);
      Future.join(replies).otherwiseEmpty().await();
    }
    round.close().await();

    // ---- invariants ----
    assertThat(unexpected).isEmpty();
    assertThat(batches.size()).isGreaterThan(2000);
    assertThat(overlaps).hasValue(0);
    assertThat(threads).hasSize(1);

    Map<Integer, RoundBatch<Req>> batchOf = new HashMap<>();
    for (int i = 0; i < batches.size(); i++) {
      RoundBatch<Req> b = batches.get(i);
      assertThat(b.round()).as("rounds run in order").isEqualTo(i);
      Set<String> participants = new HashSet<>();
      for (Arrival<Req> a : b.arrivals()) {
        assertThat(participants.add(a.participantId())).as("distinct participants in a round").isTrue();
        assertThat(a.request().expected()).as("a round never mixes waves").isEqualTo(b.expected());
        assertThat(batchOf.put(a.request().id(), b)).as("a request joins at most one round").isNull();
      }
      assertThat(b.size()).isEqualTo(b.expected());
      assertThat(b.partial()).isFalse();
    }

    int duplicates = 0;
    int failedBatches = (int) batches.stream()
        .filter(b -> b.arrivals().stream().anyMatch(a -> a.request().poison())).count();
    for (Req q : all) {
      assertThat(completions.get(q.id())).as("completions of request %d", q.id()).isEqualTo(1);
      assertThat(wrongContext.get(q.id())).as("completed on the caller's context").isZero();
      AsyncResult<Reply> outcome = outcomes.get(q.id());
      RoundBatch<Req> b = batchOf.get(q.id());
      if (b == null) {
        duplicates++;
        assertThat(outcome.failed()).isTrue();
        assertThat(((RpcException) outcome.cause()).code()).isEqualTo(FailureCode.DUPLICATE);
      } else if (b.arrivals().stream().anyMatch(a -> a.request().poison())) {
        assertThat(outcome.failed()).isTrue();
        assertThat(((RpcException) outcome.cause()).code()).isEqualTo(FailureCode.BATCH_FAILED);
        assertThat(outcome.cause()).hasMessageContaining("poisoned round " + b.round());
      } else {
        assertThat(outcome.succeeded()).as("request %d", q.id()).isTrue();
        assertThat(outcome.result()).isEqualTo(new Reply(q.id(), b.round(), b.size()));
      }
    }
    assertThat(duplicates).isPositive();
    assertThat(failedBatches).isPositive();
    assertThat(registry.get("test.round.rejected").tag("reason", "DUPLICATE").counter().count())
        .isEqualTo(duplicates);
    assertThat(registry.get("test.rounds").tag("outcome", "failed").counter().count())
        .isEqualTo(failedBatches);
    assertThat(registry.get("test.rounds").tag("outcome", "complete").counter().count())
        .isEqualTo(batches.size() - failedBatches);
  }

  private static void record(Req q, AsyncResult<Reply> ar, Context caller, AtomicIntegerArray completions,
      AtomicIntegerArray wrongContext, AtomicReferenceArray<AsyncResult<Reply>> outcomes) {
    completions.incrementAndGet(q.id());
    if (Vertx.currentContext() != caller) {
      wrongContext.incrementAndGet(q.id());
    }
    outcomes.set(q.id(), ar);
  }
}
