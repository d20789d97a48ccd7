package dev.batchrpc.runtime.round;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Rounds follow the live participants: leave, rejoin, newcomers, spares. */
@ExtendWith(VertxExtension.class)
class RoundMembershipTest {

  private SimpleMeterRegistry registry;
  private Context owner;
  private final List<RoundBatch<Integer>> batches = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(Vertx vertx) {
    registry = new SimpleMeterRegistry();
    owner = vertx.getOrCreateContext();
  }

  /** A round of N whose batch answers each arrival with "id@round/size" and records the batch. */
  private Round<Integer, String> round(int n, List<String> known) {
    BatchFunction<Integer, String> echo = batch -> {
      batches.add(batch);
      List<String> out = new ArrayList<>();
      for (Arrival<Integer> a : batch.arrivals()) {
        out.add(a.participantId() + "@" + batch.round() + "/" + batch.size());
      }
      return BatchResult.perArrival(out);
    };
    return Round.builder(owner, RoundConfig.of("update", "test", n), echo)
        .knownParticipants(known).meterRegistry(registry).build();
  }

  private double rounds(String outcome) {
    return registry.get("test.rounds").tag("outcome", outcome).counter().count();
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void leavingStopsTheOpenRoundWaitingAndLaterRoundsShrink(VertxTestContext ctx) {
    Round<Integer, String> round = round(3, List.of("a", "b", "c"));
    Future<String> a0 = round.submit("a", 0);
    Future<String> b0 = round.submit("b", 0);
    round.openArrivals()
        .compose(open -> {
          ctx.verify(() -> assertThat(open).as("waiting for c").isEqualTo(2));
          return round.leave("c");
        })
        .compose(next -> {
          ctx.verify(() -> assertThat(next).isEqualTo(2));
          return Future.all(a0, b0);
        })
        .compose(r0 -> {
          ctx.verify(() -> {
            assertThat(r0.<String>list()).containsExactly("a@0/2", "b@0/2");
            assertThat(batches.get(0).partial()).as("closed with every live participant").isFalse();
            assertThat(rounds("shrunk")).isEqualTo(1);
            assertThat(registry.get("test.round.departures").counter().count()).isEqualTo(1);
          });
          Future<String> c1 = round.submit("c", 1);
          return c1.transform(ar -> Future.succeededFuture(ar.cause()));
        })
        .compose(refused -> {
          ctx.verify(() -> {
            assertThat(refused).isInstanceOf(RpcException.class);
            assertThat(((RpcException) refused).code()).isEqualTo(FailureCode.UNKNOWN_PARTICIPANT);
            assertThat(refused).hasMessageContaining("left the rounds");
          });
          return Future.all(round.submit("a", 1), round.submit("b", 1));
        })
        .onComplete(ctx.succeeding(r1 -> ctx.verify(() -> {
          assertThat(r1.<String>list()).containsExactly("a@1/2", "b@1/2");
          assertThat(rounds("complete")).as("the next round is a full round of the two live").isEqualTo(1);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void aLeaverWhoseRequestIsInStaysInItsRoundAndTheRoundStillWaitsForTheOthers(VertxTestContext ctx) {
    Round<Integer, String> round = round(3, List.of("a", "b", "c"));
    Future<String> c0 = round.submit("c", 0);
    List<Future<String>> a0 = new ArrayList<>();
    round.leave("c")
        .compose(next -> {
          a0.add(round.submit("a", 0));
          return round.openArrivals().map(open -> List.of(next, open));
        })
        .compose(seen -> {
          ctx.verify(() -> assertThat(seen).as("next round expects 2; a and c wait for b").containsExactly(2, 2));
          return Future.all(round.submit("b", 0), c0, a0.get(0));
        })
        .onComplete(ctx.succeeding(r0 -> ctx.verify(() -> {
          assertThat(r0.<String>list()).containsExactly("b@0/3", "c@0/3", "a@0/3");
          assertThat(rounds("complete")).isEqualTo(1);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void aReturningParticipantCountsFromTheNextRound(VertxTestContext ctx) {
    Round<Integer, String> round = round(3, List.of("a", "b", "c"));
    round.leave("c")
        .compose(v -> {
          Future<String> a0 = round.submit("a", 0);
          return round.rejoin("c").compose(next -> {
            ctx.verify(() -> assertThat(next).isEqualTo(3));
            // The open round was opened for a and b: it does not wait for c.
            return Future.all(a0, round.submit("b", 0));
          });
        })
        .compose(r0 -> {
          ctx.verify(() -> assertThat(r0.<String>list()).containsExactly("a@0/2", "b@0/2"));
          Future<String> a1 = round.submit("a", 1);
          Future<String> b1 = round.submit("b", 1);
          return round.openArrivals().compose(open -> {
            ctx.verify(() -> assertThat(open).as("round 1 waits for c again").isEqualTo(2));
            return Future.all(a1, b1, round.submit("c", 1));
          });
        })
        .onComplete(ctx.succeeding(r1 -> ctx.verify(() -> {
          assertThat(r1.<String>list()).containsExactly("a@1/3", "b@1/3", "c@1/3");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void aReturningParticipantThatArrivesInTheOpenRoundIsTakenAndCounted(VertxTestContext ctx) {
    Round<Integer, String> round = round(3, List.of("a", "b", "c"));
    round.leave("c")
        .compose(v -> {
          Future<String> a0 = round.submit("a", 0);
          return round.rejoin("c").compose(x -> {
            Future<String> c0 = round.submit("c", 0);
            return round.openArrivals().compose(open -> {
              ctx.verify(() -> assertThat(open).as("a and c wait for b").isEqualTo(2));
              return Future.all(a0, c0, round.submit("b", 0));
            });
          });
        })
        .onComplete(ctx.succeeding(r0 -> ctx.verify(() -> {
          assertThat(r0.<String>list()).containsExactly("a@0/3", "c@0/3", "b@0/3");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void aLeaveAfterAReturnInTheSameOpenRoundStillShrinksIt(VertxTestContext ctx) {
    Round<Integer, String> round = round(3, List.of("a", "b", "c"));
    round.leave("c")
        .compose(v -> {
          Future<String> a0 = round.submit("a", 0);
          // c returns (not waited for in this round), then b, which the round waits for, leaves.
          return round.rejoin("c").compose(x -> round.leave("b")).compose(x -> a0);
        })
        .onComplete(ctx.succeeding(a0 -> ctx.verify(() -> {
          assertThat(a0).isEqualTo("a@0/1");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void sparesKeepTheRoundFullAndTheSizeNeverDropsBelowOne(VertxTestContext ctx) {
    Round<Integer, String> round = round(2, List.of("a", "b", "c"));
    round.leave("c")
        .compose(n -> {
          ctx.verify(() -> assertThat(n).as("two live of three known: still 2").isEqualTo(2));
          return round.leave("b");
        })
        .compose(n -> {
          ctx.verify(() -> assertThat(n).isEqualTo(1));
          return round.leave("a");
        })
        .compose(n -> {
          ctx.verify(() -> assertThat(n).as("never below 1").isEqualTo(1));
          return round.leave("stranger");
        })
        .compose(n -> round.rejoin("a"))
        .compose(n -> round.submit("a", 0))
        .onComplete(ctx.succeeding(a0 -> ctx.verify(() -> {
          assertThat(a0).isEqualTo("a@0/1");
          assertThat(registry.get("test.round.departures").counter().count())
              .as("an unknown id is not a departure").isEqualTo(3);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void whileParticipantsRegisterTheRoundWaitsForTheUnregisteredSlots(VertxTestContext ctx) {
    // Registration mode: N = 3, only a has registered so far.
    Round<Integer, String> round = round(3, List.of("a"));
    Future<String> a0 = round.submit("a", 0);
    round.setKnownParticipants(List.of("a", "b"))
        .compose(v -> round.expected())
        .compose(n -> {
          ctx.verify(() -> assertThat(n).as("still waiting for a third trainer").isEqualTo(3));
          return round.setKnownParticipants(List.of("a", "b", "c"));
        })
        .compose(v -> Future.all(a0, round.submit("b", 0), round.submit("c", 0)))
        .compose(r0 -> {
          ctx.verify(() -> assertThat(r0.<String>list()).containsExactly("a@0/3", "b@0/3", "c@0/3"));
          // A fourth registers: a spare, the round size stays 3; one leaves: still 3 live.
          return round.setKnownParticipants(List.of("a", "b", "c", "d")).compose(v -> round.leave("b"));
        })
        .onComplete(ctx.succeeding(n -> ctx.verify(() -> {
          assertThat(n).isEqualTo(3);
          ctx.completeNow();
        })));
  }
}
