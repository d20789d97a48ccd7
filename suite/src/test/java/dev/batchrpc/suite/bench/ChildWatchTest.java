package dev.batchrpc.suite.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.runtime.process.ChildJvm;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A benchmark's wait ends at once when a child process dies, naming it, its exit code and log. */
class ChildWatchTest {

  @TempDir
  Path dir;

  private static ChildJvm script(String name, Path log, String sh) throws Exception {
    return ChildJvm.start(name, new ProcessBuilder("sh", "-c", sh), log);
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aDeathEndsTheWaitAtOnceWithIdCodeLogAndItsLastLines() throws Exception {
    Path log = dir.resolve("t1.log");
    try (ChildWatch watch = new ChildWatch(true)) {
      watch.add(script("trainer process t0", dir.resolve("t0.log"), "exec sleep 60"));
      ChildJvm dying = watch.add(script("trainer process t1", log,
          "i=1; while [ $i -le 30 ]; do echo line $i; i=$((i+1)); done; exit 7"));
      CompletableFuture<String> never = new CompletableFuture<>();
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> watch.await(never, 600_000, () -> "timed out"))
          .isInstanceOf(ChildWatch.ChildDiedException.class)
          .hasMessageContaining("trainer process t1 (pid " + dying.pid() + ") exited with code 7")
          .hasMessageContaining(log.toAbsolutePath().toString())
          .hasMessageContaining("| line 30").hasMessageContaining("| line 11").hasMessageNotContaining("line 10\n")
          .hasMessageNotContaining("t0");
      assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5);
    }
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aCleanExitIsNormalForTrainersButADeathForObservers() throws Exception {
    Path log = dir.resolve("ok.log");
    try (ChildWatch trainers = new ChildWatch(true)) {
      ChildJvm p = trainers.add(script("trainer", log, "echo done"));
      p.ended().get();
      CompletableFuture<String> later = new CompletableFuture<>();
      CompletableFuture.delayedExecutor(300, TimeUnit.MILLISECONDS).execute(() -> later.complete("rounds done"));
      assertThat(trainers.await(later, 10_000, () -> "timed out")).isEqualTo("rounds done");
    }
    try (ChildWatch observers = new ChildWatch(false)) {
      observers.add(script("observer process 0", log, "echo bye"));
      assertThatThrownBy(() -> observers.await(new CompletableFuture<>(), 10_000, () -> "timed out"))
          .hasMessageContaining("observer process 0").hasMessageContaining("exited with code 0")
          .hasMessageContaining("| bye");
    }
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aTimeoutStillSaysSoAndAFailedWaitRethrowsItsOwnError() throws Exception {
    try (ChildWatch watch = new ChildWatch(false)) {
      watch.add(script("observer", dir.resolve("o.log"), "exec sleep 60"));
      assertThatThrownBy(() -> watch.await(new CompletableFuture<>(), 200, () -> "no rounds in 0.2 s"))
          .isInstanceOf(IllegalStateException.class).hasMessage("no rounds in 0.2 s");
      assertThatThrownBy(() -> watch.await(CompletableFuture.failedFuture(new IllegalArgumentException("bad")), 1000,
          () -> "timed out")).isInstanceOf(IllegalArgumentException.class).hasMessage("bad");
    }
  }

  /** End to end: {@code bench ps --modes procs} whose trainer JVMs cannot start fails fast. */
  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void benchPsStopsAtOnceWhenATrainerProcessDies() throws Exception {
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new PsBench());
    cl.setErr(new PrintWriter(err, true));
    long t0 = System.nanoTime();
    int code = cl.execute("--models", "replay", "--replay-params", "1000", "--modes", "procs", "--trainers", "2",
        "--replay-rounds", "2", "--warmup", "0", "--trainer-java-opts", "-XX:+NoSuchFlagForThisTest",
        "--out", dir.toString());
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertThat(code).as(err.toString()).isEqualTo(1);
    assertThat(err.toString()).containsPattern("trainer process bench-[01] \\(pid \\d+\\) exited with code 1")
        .contains("batchrpc-bench-").contains(".log").contains("| Unrecognized VM option 'NoSuchFlagForThisTest'");
    // before: the wait ran into its limit, 120 s + 20 s a round
    assertThat(seconds).isLessThan(60);
    assertThat(Files.list(dir)).isEmpty(); // no CSV of a failed run
  }

  /** End to end: {@code bench rl --deployments procs} whose observer JVM cannot start fails fast. */
  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void benchRlStopsAtOnceWhenAnObserverProcessDies() throws Exception {
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new RlBench());
    cl.setErr(new PrintWriter(err, true));
    long t0 = System.nanoTime();
    int code = cl.execute("--deployments", "procs", "--world-sizes", "2", "--episodes", "1", "--steps", "10",
        "--modes", "batch", "--observer-java-opts", "-XX:+NoSuchFlagForThisTest", "--out", dir.toString());
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertThat(code).as(err.toString()).isEqualTo(1);
    assertThat(err.toString()).containsPattern("observer process 0 \\(of world size 2\\) \\(pid \\d+\\) exited with code 1")
        .contains(dir.resolve("rl-observer-0.log").toAbsolutePath().toString())
        .contains("| Unrecognized VM option 'NoSuchFlagForThisTest'");
    // before: the wait for the observers to start ran 180 s
    assertThat(seconds).isLessThan(60);
  }
}
