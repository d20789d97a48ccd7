package dev.batchrpc.runtime.round;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(VertxExtension.class)
class RoundTest {

  private SimpleMeterRegistry registry;
  private Context owner;

  @BeforeEach
  void setUp(Vertx vertx) {
    registry = new SimpleMeterRegistry();
    owner = vertx.getOrCreateContext();
  }

  /** A batch that answers each arrival with its request, the round number and the round size. */
  private static BatchFunction<Integer, String> echo() {
    return batch -> {
      List<String> out = new ArrayList<>();
      for (Arrival<Integer> a : batch.arrivals()) {
        out.add(a.participantId() + ":" + a.request() + "@" + batch.round() + "/" + batch.size());
      }
      return BatchResult.perArrival(out);
    };
  }

  private Round<Integer, String> echoRound(RoundConfig config) {
    return Round.builder(owner, config, echo()).meterRegistry(registry).build();
  }

  private double rounds(String outcome) {
    return registry.get("test.rounds").tag("outcome", outcome).counter().count();
  }

  private double rejected(FailureCode code) {
    return registry.get("test.round.rejected").tag("reason", code.name()).counter().count();
  }

  private static FailureCode codeOf(Throwable t) {
    assertThat(t).isInstanceOf(RpcException.class);
    return ((RpcException) t).code();
  }

  /** A verticle that plays one participant for a number of consecutive rounds. */
  private static final class Participant extends VerticleBase {
    final Round<Integer, String> round;
    final String id;
    final int rounds;
    final List<String> replies = new CopyOnWriteArrayList<>();
    final AtomicInteger wrongContext = new AtomicInteger();
    final Promise<Void> done = Promise.promise();

    Participant(Round<Integer, String> round, String id, int rounds) {
      this.round = round;
      this.id = id;
      this.rounds = rounds;
    }

    @Override
    public Future<?> start() {
      next(0);
      return Future.succeededFuture();
    }

    private void next(int k) {
      if (k == rounds) {
        done.complete();
        return;
      }
      Context mine = context;
      round.submit(id, k)
          .onSuccess(reply -> {
            if (Vertx.currentContext() != mine) {
              wrongContext.incrementAndGet();
            }
            replies.add(reply);
            next(k + 1);
          })
          .onFailure(done::tryFail);
    }
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void fourVerticlesOnTheirOwnEventLoopsRunRoundsBackToBack(Vertx vertx, VertxTestContext ctx) {
    Set<String> batchThreads = ConcurrentHashMap.newKeySet();
    AtomicInteger notOnWorker = new AtomicInteger();
    BatchFunction<Integer, String> batch = b -> {
      batchThreads.add(Thread.currentThread().getName());
      if (!Context.isOnWorkerThread() || Context.isOnEventLoopThread()) {
        notOnWorker.incrementAndGet();
      }
      return echo().run(b);
    };
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 4), batch)
        .meterRegistry(registry).build();
    int rounds = 50;
    List<Participant> participants = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      participants.add(new Participant(round, "p" + i, rounds));
    }
    Future.all(participants.stream().map(p -> vertx.deployVerticle(p)).toList())
        .compose(v -> Future.all(participants.stream().map(p -> p.done.future()).toList()))
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          for (Participant p : participants) {
            // The k-th reply of each participant comes from round k, which held all four.
            List<String> expected = new ArrayList<>();
            for (int k = 0; k < rounds; k++) {
              expected.add(p.id + ":" + k + "@" + k + "/4");
            }
            assertThat(p.replies).containsExactlyElementsOf(expected);
            assertThat(p.wrongContext).hasValue(0);
          }
          assertThat(notOnWorker).hasValue(0);
          assertThat(batchThreads).hasSize(1);
          assertThat(batchThreads.iterator().next()).startsWith("test.update.batch");
          assertThat(rounds("complete")).isEqualTo(rounds);
          assertThat(registry.get("test.round.size").summary().count()).isEqualTo(rounds);
          assertThat(registry.get("test.round.size").summary().mean()).isEqualTo(4.0);
          assertThat(registry.get("test.round.compute").timer().count()).isEqualTo(rounds);
          assertThat(registry.get("test.round.wait").timer().count()).isEqualTo(rounds);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void duplicateIsRefusedAtOnceAndTheFirstRequestStays(VertxTestContext ctx) {
    Round<Integer, String> round = echoRound(RoundConfig.of("update", "test", 2));
    Future<String> first = round.submit("a", 1);
    Future<String> dup = round.submit("a", 2);
    dup.onComplete(ctx.failing(e -> ctx.verify(() -> {
      assertThat(codeOf(e)).isEqualTo(FailureCode.DUPLICATE);
      assertThat(e).hasMessageContaining("'a'").hasMessageContaining("1 of 2");
      // Refused while the round was still open: the first request is still waiting.
      assertThat(first.isComplete()).isFalse();
      round.submit("b", 3)
          .compose(b -> first.map(a -> List.of(a, b)))
          .onComplete(ctx.succeeding(replies -> ctx.verify(() -> {
            assertThat(replies).containsExactly("a:1@0/2", "b:3@0/2");
            assertThat(rejected(FailureCode.DUPLICATE)).isEqualTo(1.0);
            assertThat(rounds("complete")).isEqualTo(1.0);
            ctx.completeNow();
          })));
    })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void validatorRefusalsDoNotCountAsArrivals(VertxTestContext ctx) {
    RequestValidator<Integer> validator = (id, q) -> {
      if (q < 0) {
        throw new RpcException(FailureCode.SHAPE_MISMATCH, "expected a non-negative value, got " + q);
      }
      if (q == 99) {
        throw new IllegalStateException("ninety-nine is not allowed");
      }
    };
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 2), echo())
        .validator(validator).meterRegistry(registry).build();
    Future<String> a = round.submit("a", 1);
    Future<String> bad = round.submit("b", -5);
    Future<String> worse = round.submit("b", 99);
    Future.join(bad, worse).onComplete(ar -> ctx.verify(() -> {
      assertThat(codeOf(bad.cause())).isEqualTo(FailureCode.SHAPE_MISMATCH);
      assertThat(bad.cause()).hasMessage("expected a non-negative value, got -5");
      assertThat(codeOf(worse.cause())).isEqualTo(FailureCode.BAD_REQUEST);
      assertThat(worse.cause()).hasMessage("ninety-nine is not allowed");
      assertThat(a.isComplete()).isFalse();
      round.openArrivals()
          .compose(open -> {
            ctx.verify(() -> assertThat(open).isEqualTo(1));
            // "b" was refused, not registered: its valid retry joins the same round.
            return round.submit("b", 2);
          })
          .compose(b -> a.map(x -> List.of(x, b)))
          .onComplete(ctx.succeeding(replies -> ctx.verify(() -> {
            assertThat(replies).containsExactly("a:1@0/2", "b:2@0/2");
            assertThat(rejected(FailureCode.SHAPE_MISMATCH)).isEqualTo(1.0);
            assertThat(rejected(FailureCode.BAD_REQUEST)).isEqualTo(1.0);
            ctx.completeNow();
          })));
    }));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void unknownParticipantIsRefused(VertxTestContext ctx) {
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 1), echo())
        .knownParticipants(List.of("a")).meterRegistry(registry).build();
    round.submit("z", 1).onComplete(ctx.failing(e -> ctx.verify(() -> {
      assertThat(codeOf(e)).isEqualTo(FailureCode.UNKNOWN_PARTICIPANT);
      assertThat(e).hasMessageContaining("'z'");
      round.submit("a", 2)
          .compose(a -> round.setKnownParticipants(List.of("z")).map(a))
          .compose(a -> round.submit("z", 3).map(z -> List.of(a, z)))
          .onComplete(ctx.succeeding(replies -> ctx.verify(() -> {
            assertThat(replies).containsExactly("a:2@0/1", "z:3@1/1");
            assertThat(rejected(FailureCode.UNKNOWN_PARTICIPANT)).isEqualTo(1.0);
            ctx.completeNow();
          })));
    })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void failingBatchFailsItsCallersAndTheNextRoundWorks(VertxTestContext ctx) {
    AtomicInteger calls = new AtomicInteger();
    BatchFunction<Integer, String> batch = b -> {
      if (calls.getAndIncrement() == 0) {
        throw new IllegalStateException("out of device memory");
      }
      return echo().run(b);
    };
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 2), batch)
        .meterRegistry(registry).build();
    Future<String> a = round.submit("a", 1);
    Future<String> b = round.submit("b", 2);
    Future.join(a, b).onComplete(ar -> ctx.verify(() -> {
      for (Future<String> f : List.of(a, b)) {
        assertThat(codeOf(f.cause())).isEqualTo(FailureCode.BATCH_FAILED);
        assertThat(f.cause()).hasMessageContaining("out of device memory").hasMessageContaining("2 arrivals");
      }
      Future.all(round.submit("a", 3), round.submit("b", 4))
          .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
            assertThat(all.<String>list()).containsExactly("a:3@1/2", "b:4@1/2");
            assertThat(rounds("failed")).isEqualTo(1.0);
            assertThat(rounds("complete")).isEqualTo(1.0);
            ctx.completeNow();
          })));
    }));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void batchThrowingAnErrorStillAnswersItsCallers(VertxTestContext ctx) {
    // What a JCuda call does on a machine without a GPU.
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 1),
        (BatchFunction<Integer, String>) b -> {
          throw new UnsatisfiedLinkError("no JCublas2 in java.library.path");
        }).meterRegistry(registry).build();
    round.submit("a", 1).onComplete(ctx.failing(e -> ctx.verify(() -> {
      assertThat(codeOf(e)).isEqualTo(FailureCode.BATCH_FAILED);
      assertThat(e).hasMessageContaining("no JCublas2");
      assertThat(rounds("failed")).isEqualTo(1.0);
      ctx.completeNow();
    })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void wrongNumberOfResultsFailsTheRound(VertxTestContext ctx) {
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 2),
        (BatchFunction<Integer, String>) b -> BatchResult.perArrival(List.of("only one")))
        .meterRegistry(registry).build();
    Future<String> a = round.submit("a", 1);
    round.submit("b", 2).onComplete(ctx.failing(e -> ctx.verify(() -> {
      assertThat(codeOf(e)).isEqualTo(FailureCode.BATCH_FAILED);
      assertThat(e).hasMessageContaining("1 results for 2 arrivals");
      assertThat(codeOf(a.cause())).isEqualTo(FailureCode.BATCH_FAILED);
      ctx.completeNow();
    })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void sharedResultIsTheSameInstanceForEveryCaller(VertxTestContext ctx) {
    Round<Integer, byte[]> round = Round.builder(owner, RoundConfig.of("update", "test", 3),
        (BatchFunction<Integer, byte[]>) b -> BatchResult.shared(new byte[] {(byte) b.size()}))
        .build();
    Future.all(round.submit("a", 1), round.submit("b", 2), round.submit("c", 3))
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          List<byte[]> replies = all.list();
          assertThat(replies.get(0)).containsExactly(3);
          assertThat(replies.get(1)).isSameAs(replies.get(0));
          assertThat(replies.get(2)).isSameAs(replies.get(0));
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void partialRoundRunsWithWhatArrived(VertxTestContext ctx) {
    List<RoundBatch<Integer>> seen = new CopyOnWriteArrayList<>();
    BatchFunction<Integer, String> batch = b -> {
      seen.add(b);
      return echo().run(b);
    };
    RoundConfig config = RoundConfig.of("update", "test", 3)
        .withMaxWait(Duration.ofMillis(100), PartialPolicy.RUN_PARTIAL);
    Round<Integer, String> round = Round.builder(owner, config, batch).meterRegistry(registry).build();
    Future.all(round.submit("a", 1), round.submit("b", 2))
        .compose(partial -> Future.all(round.submit("a", 3), round.submit("b", 4), round.submit("c", 5))
            .map(full -> List.of(partial.<String>list(), full.<String>list())))
        .onComplete(ctx.succeeding(replies -> ctx.verify(() -> {
          assertThat(replies.get(0)).containsExactly("a:1@0/2", "b:2@0/2");
          assertThat(replies.get(1)).containsExactly("a:3@1/3", "b:4@1/3", "c:5@1/3");
          assertThat(seen).extracting(RoundBatch::partial).containsExactly(true, false);
          assertThat(seen).extracting(RoundBatch::expected).containsExactly(3, 3);
          assertThat(rounds("partial")).isEqualTo(1.0);
          assertThat(rounds("complete")).isEqualTo(1.0);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void partialRoundFailsItsCallersUnderFailPolicy(VertxTestContext ctx) {
    AtomicInteger batches = new AtomicInteger();
    BatchFunction<Integer, String> batch = b -> {
      batches.incrementAndGet();
      return echo().run(b);
    };
    RoundConfig config = RoundConfig.of("update", "test", 3)
        .withMaxWait(Duration.ofMillis(100), PartialPolicy.FAIL);
    Round<Integer, String> round = Round.builder(owner, config, batch).meterRegistry(registry).build();
    Future<String> a = round.submit("a", 1);
    Future<String> b = round.submit("b", 2);
    Future.join(a, b).onComplete(ar -> ctx.verify(() -> {
      for (Future<String> f : List.of(a, b)) {
        assertThat(codeOf(f.cause())).isEqualTo(FailureCode.ROUND_TIMEOUT);
        assertThat(f.cause()).hasMessageContaining("2 of 3 participants arrived within")
            .hasMessageContaining("max wait 100 ms");
      }
      assertThat(batches).hasValue(0);
      Future.all(round.submit("a", 3), round.submit("b", 4), round.submit("c", 5))
          .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
            assertThat(all.<String>list()).containsExactly("a:3@1/3", "b:4@1/3", "c:5@1/3");
            assertThat(rounds("timeout")).isEqualTo(1.0);
            assertThat(rounds("complete")).isEqualTo(1.0);
            ctx.completeNow();
          })));
    }));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void loweringExpectedClosesTheOpenRound(VertxTestContext ctx) {
    List<RoundBatch<Integer>> seen = new CopyOnWriteArrayList<>();
    BatchFunction<Integer, String> batch = b -> {
      seen.add(b);
      return echo().run(b);
    };
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 3), batch)
        .meterRegistry(registry).build();
    Future<String> a = round.submit("a", 1);
    Future<String> b = round.submit("b", 2);
    round.setExpected(2)
        .compose(v -> Future.all(a, b))
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          assertThat(all.<String>list()).containsExactly("a:1@0/2", "b:2@0/2");
          assertThat(seen).singleElement().satisfies(s -> {
            assertThat(s.partial()).isFalse();
            assertThat(s.expected()).isEqualTo(2);
          });
          ctx.completeNow();
        })));
    assertThatThrownBy(() -> round.setExpected(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 1");
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void arrivalsDuringARunningBatchOpenTheNextRoundAndBatchesNeverOverlap(VertxTestContext ctx) {
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger running = new AtomicInteger();
    AtomicInteger overlaps = new AtomicInteger();
    BatchFunction<Integer, String> batch = b -> {
      if (running.incrementAndGet() != 1) {
        overlaps.incrementAndGet();
      }
      try {
        if (b.round() == 0 && !release.await(5, TimeUnit.SECONDS)) {
          throw new IllegalStateException("never released");
        }
        return echo().run(b);
      } finally {
        running.decrementAndGet();
      }
    };
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 2), batch)
        .meterRegistry(registry).build();
    Future<List<String>> first = Future.all(round.submit("a", 1), round.submit("b", 2)).map(c -> c.list());
    // Round 0 is closed and its batch is held on the worker; these open and fill round 1.
    Future<List<String>> second = Future.all(round.submit("a", 3), round.submit("b", 4)).map(c -> c.list());
    Future<String> third = round.submit("a", 5);
    round.openArrivals()
        .onComplete(ctx.succeeding(open -> ctx.verify(() -> {
          // Only round 2's single arrival is open; rounds 0 and 1 are closed, none finished yet.
          assertThat(open).isEqualTo(1);
          assertThat(first.isComplete()).isFalse();
          assertThat(second.isComplete()).isFalse();
          release.countDown();
        })))
        .compose(v -> Future.all(first, second, round.submit("b", 6), third))
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          assertThat(first.result()).containsExactly("a:1@0/2", "b:2@0/2");
          assertThat(second.result()).containsExactly("a:3@1/2", "b:4@1/2");
          assertThat(third.result()).isEqualTo("a:5@2/2");
          assertThat(overlaps).hasValue(0);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void closeFailsWaitingCallersAndRefusesNewOnes(VertxTestContext ctx) {
    Round<Integer, String> round = echoRound(RoundConfig.of("update", "test", 2));
    Future<String> waiting = round.submit("a", 1);
    round.close()
        .compose(v -> round.submit("b", 2))
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          assertThat(codeOf(e)).isEqualTo(FailureCode.UNAVAILABLE);
          assertThat(codeOf(waiting.cause())).isEqualTo(FailureCode.UNAVAILABLE);
          assertThat(waiting.cause()).hasMessageContaining("1 of 2");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void batchesRunOnTheCallersWorkerWhichOutlivesTheRound(Vertx vertx, VertxTestContext ctx) {
    WorkerExecutor worker = vertx.createSharedWorkerExecutor("test.callers-worker", 1);
    Set<String> threads = ConcurrentHashMap.newKeySet();
    BatchFunction<Integer, String> batch = b -> {
      threads.add(Thread.currentThread().getName());
      return echo().run(b);
    };
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 1), batch)
        .worker(worker).meterRegistry(registry).build();
    worker.executeBlocking(() -> Thread.currentThread().getName())
        .compose(callers -> round.submit("a", 1)
            .compose(r -> round.submit("a", 2))
            .compose(r -> round.close())
            // Still open after the round closed: it is the caller's to close.
            .compose(v -> worker.executeBlocking(() -> Thread.currentThread().getName()))
            .map(after -> {
              assertThat(threads).containsExactly(callers);
              assertThat(after).isEqualTo(callers);
              return null;
            }))
        .eventually(worker::close)
        .onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void blankParticipantIsABadRequest(VertxTestContext ctx) {
    Round<Integer, String> round = echoRound(RoundConfig.of("update", "test", 1));
    round.submit(" ", 1).onComplete(ctx.failing(e -> ctx.verify(() -> {
      assertThat(codeOf(e)).isEqualTo(FailureCode.BAD_REQUEST);
      ctx.completeNow();
    })));
  }

  @Test
  void builderRefusesAWorkerContextAsOwner(Vertx vertx) {
    Context workerContext = VertxInternals.newWorkerContext(vertx);
    assertThatThrownBy(() -> Round.builder(workerContext, RoundConfig.of("update", "test", 1), echo()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("event-loop");
  }
}
