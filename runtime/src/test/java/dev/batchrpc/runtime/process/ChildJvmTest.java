package dev.batchrpc.runtime.process;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A child's output: kept, appended to its log, waited for line by line; its end after the last line. */
class ChildJvmTest {

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void linesAreKeptLoggedAndWaitedForAndTheEndComesAfterTheLastLine(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("child.log");
    Files.writeString(log, "an earlier run\n");
    try (ChildJvm child = ChildJvm.start("child", new ProcessBuilder("sh", "-c",
        "echo one; echo 'WARNING: Using incubator modules: jdk.incubator.vector' >&2; sleep 0.3; "
            + "echo 'child ready now'; echo two >&2; exit 4"), log)) {
      CompletableFuture<String> ready = child.line(l -> l.contains(" ready "));
      assertThat(ready.get(10, TimeUnit.SECONDS)).isEqualTo("child ready now");
      assertThat(child.ended().get(10, TimeUnit.SECONDS)).isEqualTo(4);
      // everything printed is read by the time the end is reported, stderr merged, the JVM's notice dropped
      assertThat(child.tail(10)).containsExactly("one", "child ready now", "two");
      assertThat(child.tail(2)).containsExactly("child ready now", "two");
      assertThat(child.line(l -> l.equals("one"))).isCompletedWithValue("one");
      assertThat(child.line(l -> l.equals("never"))).isNotDone();
      assertThat(Files.readAllLines(log)).containsExactly("an earlier run", "one", "child ready now", "two");
      assertThat(child.output()).startsWith("child:");
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aJvmEndedBySigtermTakesItsChildrenWithIt() throws Exception {
    try (ChildJvm parent = ChildJvm.start("parent", ChildJvm.command(ParentOfChildMain.class), List.of(),
        java.util.Map.of())) {
      String line = parent.awaitLine(l -> l.startsWith("child "), 40_000);
      assertThat(line).as(parent.output()).isNotNull();
      ProcessHandle grandchild = ProcessHandle.of(Long.parseLong(line.substring("child ".length()))).orElseThrow();
      assertThat(grandchild.isAlive()).isTrue();
      parent.process().destroy(); // SIGTERM, as Ctrl-C or a container stop would send
      assertThat(parent.awaitExit(20_000)).as("ended by SIGTERM").isEqualTo(143);
      assertThat(grandchild.onExit().get(10, TimeUnit.SECONDS).isAlive())
          .as("the child's own child is gone with it").isFalse();
    }
  }

  @Test
  void aChildJvmRunsWithTheCommonFlagsBeforeItsMainClass() {
    List<String> cmd = ChildJvm.command(ChildJvmTest.class, "-Dx=1");
    assertThat(cmd).containsSubsequence("-Xmx256m", "-Dx=1", JvmFlags.COMMON.get(0), "-cp");
    assertThat(cmd).containsAll(JvmFlags.COMMON);
    assertThat(cmd.get(cmd.size() - 1)).isEqualTo(ChildJvmTest.class.getName());
  }
}
