package dev.batchrpc.runtime.round;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link Round#withdraw}: a request whose caller gave up leaves an open round, never a closed one. */
@ExtendWith(VertxExtension.class)
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class RoundWithdrawTest {

  private SimpleMeterRegistry registry;
  private Context owner;
  /** Each batch's arrivals, as "round:id=request,...". */
  private final List<String> batches = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(Vertx vertx) {
    registry = new SimpleMeterRegistry();
    owner = vertx.getOrCreateContext();
  }

  private BatchFunction<Integer, String> recording() {
    return batch -> {
      List<String> out = new ArrayList<>();
      StringBuilder seen = new StringBuilder().append(batch.round()).append(':');
      for (Arrival<Integer> a : batch.arrivals()) {
        out.add(a.participantId() + ":" + a.request() + "/" + batch.size());
        seen.append(a.participantId()).append('=').append(a.request()).append(',');
      }
      batches.add(seen.toString());
      return BatchResult.perArrival(out);
    };
  }

  private Round<Integer, String> round(RoundConfig config) {
    return Round.builder(owner, config, recording()).meterRegistry(registry).build();
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static Throwable failure(Future<?> f) throws Exception {
    try {
      await(f);
    } catch (java.util.concurrent.ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("expected a failure, got " + f.result());
  }

  private double withdrawn() {
    return registry.get("test.round.withdrawn").counter().count();
  }

  @Test
  void aWithdrawnRequestLeavesTheOpenRoundAndItsResendIsTaken() throws Exception {
    Round<Integer, String> round = round(RoundConfig.of("update", "test", 2));
    Integer abandoned = 1;
    Future<String> first = round.submit("a", abandoned);
    assertThat(await(round.openArrivals())).isEqualTo(1);

    assertThat(await(round.withdraw("a", abandoned, "its caller cancelled"))).isTrue();
    Throwable e = failure(first);
    assertThat(e).isInstanceOf(RpcException.class).hasMessageContaining("'a'")
        .hasMessageContaining("its caller cancelled");
    assertThat(((RpcException) e).code()).isEqualTo(FailureCode.UNAVAILABLE);
    assertThat(await(round.openArrivals())).isZero();

    // The resend is not a duplicate, and the batch never sees the withdrawn request.
    Future<String> resend = round.submit("a", 2);
    Future<String> b = round.submit("b", 3);
    assertThat(await(resend)).isEqualTo("a:2/2");
    assertThat(await(b)).isEqualTo("b:3/2");
    assertThat(batches).hasSize(1);
    assertThat(batches.get(0)).endsWith(":a=2,b=3,");
    assertThat(withdrawn()).isEqualTo(1.0);
    assertThat(registry.get("test.round.rejected").tag("reason", "DUPLICATE").counter().count()).isZero();
  }

  @Test
  void afterItsRoundClosedARequestStaysAndIsAnswered() throws Exception {
    Round<Integer, String> round = round(RoundConfig.of("update", "test", 2));
    Integer q = 7;
    Future<String> a = round.submit("a", q);
    Future<String> b = round.submit("b", 8);
    assertThat(await(a)).isEqualTo("a:7/2");
    assertThat(await(round.withdraw("a", q, "late"))).isFalse();
    assertThat(await(b)).isEqualTo("b:8/2");
    assertThat(withdrawn()).isZero();
  }

  @Test
  void onlyTheVeryRequestIsWithdrawnNotANewerOneOfTheSameParticipant() throws Exception {
    Round<Integer, String> round = round(RoundConfig.of("update", "test", 2));
    Integer old = 1000;
    Integer newer = 1001;
    Future<String> a1 = round.submit("a", old);
    Future<String> b1 = round.submit("b", 1);
    assertThat(await(a1)).isEqualTo("a:1000/2");
    Future<String> a2 = round.submit("a", newer);
    // A late cancellation of the old call: the newer request in the open round stays.
    assertThat(await(round.withdraw("a", old, "late"))).isFalse();
    assertThat(await(round.withdraw("b", 1, "never sent in this round"))).isFalse();
    assertThat(await(round.openArrivals())).isEqualTo(1);
    assertThat(await(b1)).isEqualTo("b:1/2");
    String a2Reply = await(Future.all(a2, round.submit("b", 2)).map(f -> f.<String>resultAt(0)));
    assertThat(a2Reply).isEqualTo("a:1001/2");
  }

  @Test
  void withdrawingTheLastArrivalDropsTheRoundAndItsTimer() throws Exception {
    Round<Integer, String> round = round(RoundConfig.of("update", "test", 2)
        .withMaxWait(Duration.ofMillis(300), PartialPolicy.RUN_PARTIAL));
    Integer q = 1;
    Future<String> a = round.submit("a", q);
    assertThat(await(round.withdraw("a", q, "gone"))).isTrue();
    failure(a);
    Thread.sleep(600);
    // No partial round of nobody ran when the timer would have fired.
    assertThat(batches).isEmpty();
    assertThat(registry.get("test.rounds").tag("outcome", "partial").counter().count()).isZero();
    // A new round opens with a fresh timer: its partial close holds only the new arrival.
    assertThat(await(round.submit("b", 2))).isEqualTo("b:2/1");
    assertThat(batches).hasSize(1);
    assertThat(batches.get(0)).endsWith(":b=2,");
  }

  @Test
  void aWithdrawnDepartedParticipantNoLongerHoldsTheRoundOpen() throws Exception {
    Round<Integer, String> round = round(RoundConfig.of("update", "test", 3));
    Integer q = 1;
    Future<String> a = round.submit("a", q);
    Future<String> b = round.submit("b", 2);
    assertThat(await(round.openArrivals())).isEqualTo(2);
    // a's node leaves: its request stays, the round now waits for a, b and c less a = a, b, c's 2
    assertThat(await(round.leave("a"))).isEqualTo(2);
    assertThat(await(round.withdraw("a", q, "connection closed"))).isTrue();
    failure(a);
    // The round waits for b and c only: c's arrival closes it without a.
    assertThat(await(round.submit("c", 3))).isEqualTo("c:3/2");
    assertThat(await(b)).isEqualTo("b:2/2");
  }

  @Test
  void withAnArrivalListenerTheRoundIsRenumberedSoItsSumIsNotUsed() throws Exception {
    List<String> seen = new CopyOnWriteArrayList<>();
    Round<Integer, String> round = Round.builder(owner, RoundConfig.of("update", "test", 3), recording())
        .arrivalListener((r, slot, q) -> seen.add(r + "/" + slot + "=" + q))
        .meterRegistry(registry).build();
    Integer q = 5;
    Future<String> b = round.submit("b", 4);
    Future<String> a = round.submit("a", q);
    assertThat(await(round.withdraw("a", q, "cancelled"))).isTrue();
    failure(a);
    Future<String> resend = round.submit("a", 6);
    Future<String> c = round.submit("c", 7);
    assertThat(await(resend)).isEqualTo("a:6/3");
    assertThat(await(b)).isEqualTo("b:4/3");
    assertThat(await(c)).isEqualTo("c:7/3");
    // Calls 0/0 and 0/1 went to round 0; the later arrivals came as slots 1 and 2 of round 1 (no
    // slot 0), the batch's number.
    assertThat(seen).containsExactly("0/0=4", "0/1=5", "1/1=6", "1/2=7");
    assertThat(batches).containsExactly("1:b=4,a=6,c=7,");
  }
}
