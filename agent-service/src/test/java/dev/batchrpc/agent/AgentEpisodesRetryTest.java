package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The clustered agent's episode loop (found by {@code bench chaos}: an agent exited 1 whenever
 * every observer happened to be down at once): an episode every observer left is run again once
 * they are back, within --register-timeout-s; other failures still end the run.
 */
class AgentEpisodesRetryTest {

  private static EpisodeResult result(long episode) {
    return new EpisodeResult(episode, 10, 1f, 10, 10, 0.01, 2);
  }

  @Test
  void anEpisodeEveryObserverLeftIsRunAgainAndCountedOnce() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    AgentCommand.EpisodeRunner flaky = steps -> {
      int c = calls.getAndIncrement();
      // the second episode fails twice: every observer left, then none is live
      if (c == 1) {
        return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "every observer left or sat out"));
      }
      if (c == 2) {
        return Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "no live observer: all 2 left"));
      }
      return Future.succeededFuture(result(c));
    };
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    AgentCommand.Episodes run = AgentCommand.runEpisodes(flaky, 3, 10, TimeUnit.SECONDS.toNanos(30),
        new PrintStream(buf, true, StandardCharsets.UTF_8));
    String out = buf.toString(StandardCharsets.UTF_8);
    assertThat(calls.get()).isEqualTo(5);
    assertThat(run.failed()).isEqualTo(2);
    assertThat(run.last().episode()).isEqualTo(4);
    assertThat(out.lines().filter(l -> l.startsWith("episode "))).hasSize(3);
    assertThat(out).contains("agent: episode failed (every observer left or sat out); running it again");
  }

  @Test
  void failuresThatOutlastTheWindowOrAreNotForWantOfObserversEndTheRun() {
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    AgentCommand.EpisodeRunner gone = steps ->
        Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE, "no live observer"));
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> AgentCommand.runEpisodes(gone, 3, 10, TimeUnit.MILLISECONDS.toNanos(1200), quiet))
        .hasMessageContaining("no live observer");
    assertThat((System.nanoTime() - t0) / 1e9).isBetween(1.0, 10.0);
    // not clustered: no retry at all
    assertThatThrownBy(() -> AgentCommand.runEpisodes(gone, 1, 10, 0, quiet)).hasMessageContaining("no live observer");
    AgentCommand.EpisodeRunner bad = steps ->
        Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "observer 'x' reported 3 rewards"));
    assertThatThrownBy(() -> AgentCommand.runEpisodes(bad, 1, 10, TimeUnit.SECONDS.toNanos(30), quiet))
        .hasMessageContaining("reported 3 rewards");
  }
}
