package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.StatusException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * One episode's calls and reports, driven by hand: answers, losses, refusals and exclusions
 * (Vert.x futures complete synchronously here, without an event loop).
 */
class EpisodeRunTest {

  private static final List<String> IDS = List.of("o0", "o1", "o2");
  private static final int STEPS = 3;

  private final Map<String, Promise<RunEpisodeReply>> pending = new HashMap<>();
  private final List<String> lost = new ArrayList<>();

  @Test
  void theRequestAndTheMembersFollowTheRun() {
    EpisodeRun run = run(List.of("o0", "o2"));
    assertThat(run.request().getEpisode()).isEqualTo(9);
    assertThat(run.request().getNSteps()).isEqualTo(STEPS);
    assertThat(run.membersByIndex()).containsExactly(true, false, true);
  }

  @Test
  void everyAnswerIsReportedInObserverIndexOrder() {
    EpisodeRun run = run(IDS);
    Future<?> all = start(run);
    pending.get("o2").complete(reply("o2", 2f, false, true, false));
    pending.get("o0").complete(reply("o0", 0f, false, false, false));
    assertThat(all.isComplete()).isFalse();
    assertThat(run.waitsFor("o1")).isTrue();
    pending.get("o1").complete(reply("o1", 1f, true, false, false));
    assertThat(all.succeeded()).isTrue();
    assertThat(run.waitsFor("o1")).isFalse();
    EpisodeRun.Reports r = run.reports().result();
    assertThat(r.included()).containsExactly(true, true, true);
    assertThat(r.rewards()[1]).containsExactly(1f, 1f, 1f);
    assertThat(r.done()[1]).containsExactly(true, false, false);
    assertThat(r.done()[2]).containsExactly(false, true, false);
    assertThat(r.firstEpisodeRewards()).containsExactly(0f, 1f, 2f);
  }

  @Test
  void anObserverLostOnEitherTransportIsExcludedAndTheOthersFinish() {
    EpisodeRun run = run(IDS);
    Future<?> all = start(run);
    pending.get("o1").fail(new ReplyException(ReplyFailure.NO_HANDLERS, "no handler"));
    pending.get("o2").fail(new StatusException(GrpcStatus.DEADLINE_EXCEEDED, "late"));
    pending.get("o0").complete(reply("o0", 5f, false, false, false));
    assertThat(all.succeeded()).isTrue();
    assertThat(lost).containsExactly("o1", "o2");
    EpisodeRun.Reports r = run.reports().result();
    assertThat(r.included()).containsExactly(true, false, false);
    assertThat(r.rewards()[1]).isNull();
    assertThat(r.firstEpisodeRewards()[0]).isEqualTo(5f);
  }

  @Test
  void anExcludedObserverIsNotWaitedForAndItsLateAnswerIsIgnored() {
    EpisodeRun run = run(List.of("o0", "o1"));
    Future<?> all = start(run);
    run.exclude("o1", "missed step 2");
    assertThat(run.waitsFor("o1")).isFalse();
    pending.get("o0").complete(reply("o0", 3f, false, false, false));
    assertThat(all.succeeded()).isTrue();
    pending.get("o1").complete(reply("o1", 3f, false, false, false));
    assertThat(lost).isEmpty();
    assertThat(run.reports().result().included()).containsExactly(true, false, false);
  }

  @Test
  void aRefusalByALiveObserverFailsTheEpisode() {
    EpisodeRun run = run(List.of("o0", "o1"));
    Future<?> all = start(run);
    RpcException refusal = new RpcException(FailureCode.BAD_REQUEST, "the agent answered action 7");
    pending.get("o0").fail(refusal);
    pending.get("o1").complete(reply("o1", 3f, false, false, false));
    assertThat(all.failed()).isTrue();
    assertThat(all.cause()).isSameAs(refusal);
    assertThat(lost).isEmpty();
  }

  @Test
  void aReportOfTheWrongLengthIsABadRequest() {
    EpisodeRun run = run(List.of("o0"));
    start(run);
    pending.get("o0").complete(RunEpisodeReply.newBuilder().setObserverId("o0").addRewards(1f)
        .addTerminated(false).build());
    Future<EpisodeRun.Reports> r = run.reports();
    assertThat(r.failed()).isTrue();
    assertThat(RpcException.of(r.cause()).code()).isEqualTo(FailureCode.BAD_REQUEST);
    assertThat(r.cause()).hasMessage("observer 'o0' reported 1 rewards and 1 flags for 3 steps");
  }

  @Test
  void anEpisodeEveryMemberLeftIsUnavailable() {
    EpisodeRun run = run(List.of("o0", "o2"));
    Future<?> all = start(run);
    run.exclude("o0", "it left");
    pending.get("o2").fail(new IOException("connection reset"));
    assertThat(all.succeeded()).isTrue();
    Future<EpisodeRun.Reports> r = run.reports();
    assertThat(RpcException.of(r.cause()).code()).isEqualTo(FailureCode.UNAVAILABLE);
    assertThat(r.cause()).hasMessage("episode 9: every observer left or sat out before the end");
  }

  @Test
  void onlyAMissingAnswerIsALoss() {
    assertThat(EpisodeRun.isLoss(new ReplyException(ReplyFailure.TIMEOUT, "timeout"))).isTrue();
    assertThat(EpisodeRun.isLoss(new RpcException(FailureCode.UNAVAILABLE, "busy"))).isTrue();
    assertThat(EpisodeRun.isLoss(new StatusException(GrpcStatus.UNAVAILABLE, "down"))).isTrue();
    assertThat(EpisodeRun.isLoss(new IOException("reset"))).isTrue();
    assertThat(EpisodeRun.isLoss(new RpcException(FailureCode.BAD_REQUEST, "no"))).isFalse();
    assertThat(EpisodeRun.isLoss(new ReplyException(ReplyFailure.RECIPIENT_FAILURE, 400, "no"))).isFalse();
    assertThat(EpisodeRun.isLoss(new StatusException(GrpcStatus.INVALID_ARGUMENT, "no"))).isFalse();
  }

  private EpisodeRun run(List<String> members) {
    return new EpisodeRun(9, STEPS, members, IDS::indexOf, IDS.size());
  }

  private Future<?> start(EpisodeRun run) {
    return run.callAll(id -> {
      Promise<RunEpisodeReply> p = Promise.promise();
      pending.put(id, p);
      return p.future();
    }, (id, e) -> lost.add(id));
  }

  /** Reward 1 per step, the given done flags, and {@code first} as the first sub-episode's reward. */
  private static RunEpisodeReply reply(String id, float first, boolean... done) {
    RunEpisodeReply.Builder b = RunEpisodeReply.newBuilder().setObserverId(id).setFirstEpisodeReward(first);
    for (boolean d : done) {
      b.addRewards(1f).addTerminated(d);
    }
    return b.build();
  }
}
