package dev.batchrpc.runtime.process;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.testing.OomMain;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A child JVM started as {@link ChildJvm#command} starts it (the {@code batch-rpc} launcher's
 * flags) exits at once when an event loop runs out of memory, instead of running on as a member.
 */
class ChildJvmOomTest {

  @Test
  @Timeout(value = 40, unit = TimeUnit.SECONDS)
  void outOfMemoryOnAnEventLoopEndsTheJvmWithCode3() throws Exception {
    List<String> cmd = ChildJvm.command(OomMain.class, "-Xmx48m", "-XX:TieredStopAtLevel=1");
    assertThat(cmd).contains("-XX:+ExitOnOutOfMemoryError");
    try (ChildJvm child = ChildJvm.start("oom", cmd, List.of(), Map.of())) {
      child.awaitPrefix("allocating on vert.x-eventloop-thread", 20_000);
      long t0 = System.nanoTime();
      int code = child.awaitExit(10_000);
      assertThat(code).as("exit code (-1: still running 10 s after the allocation began)\n%s", child.output())
          .isEqualTo(3);
      assertThat((System.nanoTime() - t0) / 1e9).isLessThan(10);
      assertThat(child.output()).doesNotContain("survived OutOfMemoryError")
          .contains("Terminating due to java.lang.OutOfMemoryError");
    }
  }

  /** The control: the same program without the flag hits the error, survives it and keeps running. */
  @Test
  @Timeout(value = 40, unit = TimeUnit.SECONDS)
  void withoutTheFlagTheJvmRunsOnAfterTheError() throws Exception {
    List<String> cmd = new ArrayList<>(ChildJvm.command(OomMain.class, "-Xmx48m", "-XX:TieredStopAtLevel=1"));
    cmd.remove("-XX:+ExitOnOutOfMemoryError");
    try (ChildJvm child = ChildJvm.start("oom-control", cmd, List.of(), Map.of())) {
      child.awaitPrefix("survived OutOfMemoryError on vert.x-eventloop-thread", 30_000);
      assertThat(child.awaitExit(2_000)).as("the JVM should still run\n%s", child.output()).isEqualTo(-1);
      assertThat(child.process().isAlive()).isTrue();
    }
  }
}
