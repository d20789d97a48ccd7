package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.observer.ActionSource;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.AgentGrpcClient;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.bus.LocalCalls;
import dev.batchrpc.runtime.grpc.GrpcCalls;
import dev.batchrpc.runtime.testing.SevereLogs;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 11, row 7, the agent: an observer whose step request gives up while it waits in the open
 * step round (a gRPC deadline, an event-bus requester's timeout, a direct call's timeout in one
 * process) takes it back. No action is
 * sampled or recorded for it, its resend of the same step is accepted, nothing is logged SEVERE,
 * and the run ends exactly like a clean one (same parameters, same rewards).
 */
@ExtendWith(VertxExtension.class)
class AgentCancelledStepTest {

  private static final long SEED = 31;
  private static final int STEPS = 12;

  /** Observer 1 holds its step 0 back until observer 0's abandoned request has left the round. */
  private static ActionSource late(ActionSource inner, Vertx vertx, Promise<Void> abandoned) {
    return q -> {
      if (q.getEpisode() != 0 || q.getStep() != 0) {
        return inner.selectAction(q);
      }
      return abandoned.future().compose(v -> {
        Promise<Void> pause = Promise.promise();
        // The agent takes the request back on its deadline timer: give it time to have run.
        vertx.setTimer(300, t -> pause.complete());
        return pause.future();
      }).compose(v -> inner.selectAction(q));
    };
  }

  @Test
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void stepsWhoseCallersGaveUpLeaveTheRoundAndTheRunEndsLikeACleanOne(Vertx vertx, VertxTestContext ctx) {
    SevereLogs severe = SevereLogs.capture();
    Map<String, String> abandonedHow = new ConcurrentHashMap<>();
    int[] port = new int[1];
    GrpcClient grpc = GrpcClient.client(vertx);
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED).withGrpc("127.0.0.1", 0);
    AgentRuns.run(vertx, AgentConfig.of(2, AgentMode.BATCH, SEED), 2, STEPS)
        .compose(clean -> {
          Promise<Void> abandoned = Promise.promise();
          return AgentRuns.run(vertx, config, null, 2, STEPS, (i, v) -> i == 0
                  ? giveUpFirst(AgentRuns.eventBus(v), v, grpc, port, abandoned, abandonedHow)
                  : late(AgentRuns.eventBus(v), v, abandoned), agent -> port[0] = agent.grpcPort())
              .map(dirty -> List.of(clean, dirty));
        })
        .onComplete(ar -> severe.close())
        .onComplete(ctx.succeeding(runs -> ctx.verify(() -> {
          // Both gave up waiting (the other observer was not there yet): never answered.
          assertThat(abandonedHow).containsOnlyKeys("grpc", "bus", "direct").doesNotContainValue("answered!");
          // No action was sampled for the abandoned requests: the same random streams, the same
          // episodes, the same parameters as the clean run.
          assertThat(runs.get(1).parameters()).containsExactly(runs.get(0).parameters());
          assertThat(runs.get(1).episodes().get(1).runningReward())
              .isEqualTo(runs.get(0).episodes().get(1).runningReward());
          assertThat(AgentRuns.of(runs.get(1).exchanges(), "observer-0"))
              .hasSameSizeAs(AgentRuns.of(runs.get(0).exchanges(), "observer-0"));
          assertThat(severe.messages()).as("nothing SEVERE").isEmpty();
          ctx.completeNow();
        })));
  }

  /**
   * Observer 0's step 0 of episode 0: first over gRPC with a 200 ms deadline, then over the event
   * bus with a 200 ms timeout, then as a direct call in this process (LocalCalls) with a 200 ms
   * timeout, each waiting alone in the round until it gives up; then the real request.
   */
  private static ActionSource giveUpFirst(ActionSource bus, Vertx vertx, GrpcClient grpc, int[] port,
      Promise<Void> abandoned, Map<String, String> how) {
    return q -> {
      if (q.getEpisode() != 0 || q.getStep() != 0) {
        return bus.selectAction(q);
      }
      SocketAddress at = SocketAddress.inetSocketAddress(port[0], "127.0.0.1");
      return GrpcCalls.unary(grpc, at, AgentGrpcClient.SelectAction, q, 200)
          .transform(ar -> {
            how.put("grpc", ar.failed() ? RpcException.of(ar.cause()).code().name() : "answered!");
            Promise<Void> pause = Promise.promise();
            vertx.setTimer(200, t -> pause.complete());
            return pause.future();
          })
          .compose(v -> vertx.eventBus().<SelectActionReply>request(Addresses.AGENT_SELECT_ACTION, q,
              ProtobufCodec.options(200)).transform(ar -> {
                how.put("bus", ar.failed() ? RpcException.of(ar.cause()).code().name() : "answered!");
                Promise<Void> pause = Promise.promise();
                vertx.setTimer(200, t -> pause.complete());
                return pause.future();
              }))
          .compose(v -> LocalCalls.<SelectActionRequest, SelectActionReply>caller(vertx,
              Addresses.AGENT_SELECT_ACTION, 200).call(q).transform(ar -> {
                how.put("direct", ar.failed() ? RpcException.of(ar.cause()).code().name() : "answered!");
                Promise<Void> pause = Promise.promise();
                vertx.setTimer(200, t -> pause.complete());
                return pause.future();
              }))
          .compose(v -> {
            abandoned.tryComplete();
            return bus.selectAction(q);
          });
    };
  }
}
