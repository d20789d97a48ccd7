package dev.batchrpc.observer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The observer's bad input: an agent's action outside {0, 1} fails the episode before the
 * environment moves; an episode over the step limit and bodies that are not a
 * {@code RunEpisodeRequest} are refused; the next episode runs in full.
 */
@ExtendWith(VertxExtension.class)
class ObserverBadInputTest {

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void anActionOutOfRangeFailsTheEpisodeWithoutSteppingTheEnvironment(VertxTestContext ctx) {
    long seed = 99;
    List<CartPole> envs = new ArrayList<>();
    EpisodeRunner runner = new EpisodeRunner("observer-0", episode -> {
      CartPole env = new CartPole(seed + episode);
      envs.add(env);
      return env;
    });
    // push right for steps 0-2, then answer 2 at step 3
    ActionSource agent = q -> Future.succeededFuture(SelectActionReply.newBuilder()
        .setAction(q.getStep() < 3 ? 1 : 2).build());
    runner.run(RunEpisodeRequest.newBuilder().setEpisode(4).setNSteps(10).build(), agent)
        .transform(ar -> Future.succeededFuture(ar.cause()))
        .compose(e -> {
          ctx.verify(() -> {
            RpcException r = RpcException.of(e);
            assertThat(r.code()).isEqualTo(FailureCode.BAD_REQUEST);
            assertThat(r).hasMessageContaining("episode 4 step 3: the agent answered action 2");
            // the environment took the three good steps and nothing more
            CartPole twin = new CartPole(seed + 4);
            twin.reset();
            for (int t = 0; t < 3; t++) {
              twin.step(1);
            }
            CartPole env = envs.get(0);
            assertThat(env.elapsedSteps()).isEqualTo(3);
            assertThat(env.state()).containsExactly(twin.state());
          });
          // the runner is free again: the next episode runs in full
          return runner.run(RunEpisodeRequest.newBuilder().setEpisode(5).setNSteps(10).build(),
              q -> Future.succeededFuture(SelectActionReply.newBuilder().setAction(q.getStep() % 2).build()));
        })
        .onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
          assertThat(reply.getRewardsCount()).isEqualTo(10);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
  void tooManyStepsAndBodiesOfAnotherTypeAreRefused(Vertx vertx, VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    String address = Addresses.observerRunEpisode("observer-0");
    ObserverConfig config = ObserverConfig.of(0, 1L).withoutRegistration();
    // a stub agent: always push right
    vertx.eventBus().consumer(Addresses.AGENT_SELECT_ACTION,
        m -> m.reply(SelectActionReply.newBuilder().setAction(1).build()));
    List<RpcException> refusals = new ArrayList<>();
    vertx.deployVerticle(new ObserverVerticle(config))
        .compose(id -> failure(vertx.eventBus().request(address, RunEpisodeRequest.newBuilder().setEpisode(0)
            .setNSteps(Addresses.MAX_EPISODE_STEPS + 1).build(), ProtobufCodec.options(10_000))))
        .onSuccess(refusals::add)
        .compose(v -> failure(vertx.eventBus().request(address, Buffer.buffer(new byte[] {0x10, (byte) 0x80}),
            new DeliveryOptions().setSendTimeout(10_000))))
        .onSuccess(refusals::add)
        .compose(v -> failure(vertx.eventBus().request(address, 500, new DeliveryOptions().setSendTimeout(10_000))))
        .onSuccess(refusals::add)
        .compose(v -> failure(vertx.eventBus().request(address, RunEpisodeRequest.newBuilder().setEpisode(0)
            .setNSteps(5).setObserverId("observer-7").build(), ProtobufCodec.options(10_000))))
        .onSuccess(refusals::add)
        // the episode as protobuf bytes is accepted
        .compose(v -> vertx.eventBus().<RunEpisodeReply>request(address,
            RunEpisodeRequest.newBuilder().setEpisode(1).setNSteps(30).build().toByteArray(),
            new DeliveryOptions().setSendTimeout(10_000)))
        .map(Message::body)
        .onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
          assertThat(refusals).extracting(RpcException::code).containsOnly(FailureCode.BAD_REQUEST).hasSize(4);
          assertThat(refusals.get(0)).hasMessageContaining("at most 1000000, got 1000001");
          assertThat(refusals.get(1)).hasMessageContaining("malformed batchrpc.v1.RunEpisodeRequest protobuf");
          assertThat(refusals.get(2)).hasMessageContaining("expects a batchrpc.v1.RunEpisodeRequest")
              .hasMessageContaining("java.lang.Integer");
          assertThat(refusals.get(3)).hasMessageContaining("observer 'observer-0' was asked to run an episode for "
              + "observer 'observer-7'");
          assertThat(reply.getRewardsCount()).isEqualTo(30);
          ctx.completeNow();
        })));
  }

  private static Future<RpcException> failure(Future<?> f) {
    return f.transform(ar -> ar.succeeded()
        ? Future.failedFuture(new AssertionError("expected a refusal, got " + ar.result()))
        : Future.succeededFuture(RpcException.of(ar.cause())));
  }
}
