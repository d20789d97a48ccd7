package dev.batchrpc.observer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.rl.EpisodeReturns;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.RegisterObserverReply;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The observer's episode over the event bus, against a stub agent with a fixed action rule. */
@ExtendWith(VertxExtension.class)
class ObserverVerticleTest {

  private static final int STEPS = 120;

  /** The stub agent's rule: push right, except every 5th step (episodes end after ~10 steps). */
  private static int stubAction(int step) {
    return step % 5 == 4 ? 0 : 1;
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void episodeMatchesCartPoleAndEpisodeReturnsRunDirectly(Vertx vertx, VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    ObserverConfig config = ObserverConfig.of(3, 42L);
    List<SelectActionRequest> seen = new ArrayList<>();
    Promise<String> registered = Promise.promise();
    vertx.eventBus().<RegisterObserverRequest>consumer(Addresses.AGENT_REGISTER, m -> {
      registered.tryComplete(m.body().getObserverId());
      m.reply(RegisterObserverReply.newBuilder().setObserverCount(1).build());
    });
    vertx.eventBus().<SelectActionRequest>consumer(Addresses.AGENT_SELECT_ACTION, m -> {
      seen.add(m.body());
      m.reply(SelectActionReply.newBuilder().setAction(stubAction(m.body().getStep())).setBatchSize(1).build());
    });

    vertx.deployVerticle(new ObserverVerticle(config))
        .compose(id -> registered.future())
        .compose(who -> {
          ctx.verify(() -> assertThat(who).isEqualTo("observer-3"));
          return request(vertx, "observer-3", 7, STEPS);
        })
        .onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
          // The same loop run directly on a CartPole with the observer's seed.
          CartPole env = new CartPole(config.environmentSeed(7));
          float[] state = env.reset();
          float[] rewards = new float[STEPS];
          boolean[] done = new boolean[STEPS];
          for (int t = 0; t < STEPS; t++) {
            SelectActionRequest q = seen.get(t);
            assertThat(q.getObserverId()).isEqualTo("observer-3");
            assertThat(q.getEpisode()).isEqualTo(7);
            assertThat(q.getStep()).isEqualTo(t);
            assertThat(Tensors.toFloats(q.getState())).as("state sent at step %d", t).containsExactly(state);
            CartPole.Step s = env.step(stubAction(t));
            rewards[t] = (float) s.reward();
            done[t] = s.terminated() || s.truncated();
            state = done[t] ? env.reset() : s.observation();
          }
          assertThat(seen).hasSize(STEPS);
          boolean[] flags = new boolean[STEPS];
          for (int t = 0; t < STEPS; t++) {
            flags[t] = reply.getTerminated(t);
          }
          assertThat(flags).containsExactly(done);
          assertThat(reply.getRewardsList()).hasSize(STEPS).containsOnly(1f);
          // Several sub-episodes, so the reset-and-continue path ran.
          assertThat(reply.getTerminatedList()).filteredOn(b -> b).hasSizeGreaterThan(3);
          EpisodeReturns expected = EpisodeReturns.compute(rewards, done, 1.0);
          assertThat(reply.getFirstEpisodeReward()).isEqualTo(expected.firstEpisodeReward());
          assertThat(reply.getObserverId()).isEqualTo("observer-3");
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void badEpisodeRequestsAreRefusedAndTheObserverStaysUsable(Vertx vertx, VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    Promise<Message<SelectActionRequest>> firstAsk = Promise.promise();
    vertx.eventBus().<SelectActionRequest>consumer(Addresses.AGENT_SELECT_ACTION, m -> {
      if (!firstAsk.future().isComplete()) {
        // Hold the very first step so an episode is in flight while we send a second one.
        firstAsk.complete(m);
      } else {
        int action = m.body().getEpisode() == 4 ? 7 : stubAction(m.body().getStep());
        m.reply(SelectActionReply.newBuilder().setAction(action).build());
      }
    });

    ObserverConfig config = ObserverConfig.of(0, 1L).withoutRegistration();
    vertx.deployVerticle(new ObserverVerticle(config))
        .compose(id -> failureOf(request(vertx, "observer-0", 0, 0)))
        .compose(zero -> {
          ctx.verify(() -> {
            assertThat(zero.code()).isEqualTo(FailureCode.BAD_REQUEST);
            assertThat(zero).hasMessageContaining("n_steps must be > 0 and at most 1000000, got 0");
          });
          return failureOf(request(vertx, "observer-0", 0, -5));
        })
        .compose(negative -> {
          ctx.verify(() -> assertThat(negative.code()).isEqualTo(FailureCode.BAD_REQUEST));
          Future<RunEpisodeReply> first = request(vertx, "observer-0", 1, 10);
          return firstAsk.future().compose(m -> failureOf(request(vertx, "observer-0", 2, 10))
              .map(busy -> {
                ctx.verify(() -> {
                  assertThat(busy.code()).isEqualTo(FailureCode.UNAVAILABLE);
                  assertThat(busy).hasMessageContaining("already running");
                });
                m.reply(SelectActionReply.newBuilder().setAction(stubAction(0)).build());
                return m;
              })).compose(m -> first);
        })
        .compose(done -> {
          ctx.verify(() -> assertThat(done.getRewardsCount()).isEqualTo(10));
          // A bad action from the agent fails that episode with a clear error ...
          return failureOf(request(vertx, "observer-0", 4, 10));
        })
        .compose(badAction -> {
          ctx.verify(() -> {
            assertThat(badAction.code()).isEqualTo(FailureCode.BAD_REQUEST);
            assertThat(badAction).hasMessageContaining("answered action 7");
          });
          return Future.succeededFuture();
        })
        // ... and the observer still runs the next episode in full.
        .compose(skip -> request(vertx, "observer-0", 3, 25))
        .onComplete(ctx.succeeding(last -> ctx.verify(() -> {
          assertThat(last.getRewardsCount()).isEqualTo(25);
          assertThat(last.getFirstEpisodeReward()).isBetween(1f, 25f);
          ctx.completeNow();
        })));
  }

  private static Future<RunEpisodeReply> request(Vertx vertx, String id, long episode, int steps) {
    return vertx.eventBus().<RunEpisodeReply>request(Addresses.observerRunEpisode(id),
            RunEpisodeRequest.newBuilder().setEpisode(episode).setNSteps(steps).build(),
            ProtobufCodec.options(10_000))
        .map(Message::body);
  }

  private static Future<RpcException> failureOf(Future<?> f) {
    return f.transform(ar -> ar.succeeded()
        ? Future.failedFuture(new AssertionError("expected a failure, got " + ar.result()))
        : Future.succeededFuture(RpcException.of(ar.cause())));
  }
}
