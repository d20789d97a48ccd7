package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import dev.batchrpc.runtime.testing.OomMain;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The benchmarks' child JVMs, the launcher and the container all exit on OutOfMemoryError. */
class JvmFlagsTest {

  @Test
  @Timeout(value = 40, unit = TimeUnit.SECONDS)
  void aBenchChildJvmExitsWithCode3WhenAnEventLoopRunsOutOfMemory() throws Exception {
    // exactly how PsBench and RlBench build their children's command lines
    List<String> cmd = JvmFlags.command(List.of("-Xmx48m", "-XX:TieredStopAtLevel=1"), OomMain.class.getName());
    try (ChildJvm child = ChildJvm.start("bench-oom", cmd, List.of(), Map.of())) {
      child.awaitPrefix("allocating on vert.x-eventloop-thread", 20_000);
      assertThat(child.awaitExit(10_000)).as("exit code (-1: still running after 10 s)\n%s", child.output())
          .isEqualTo(JvmFlags.OOM_EXIT_CODE);
    }
  }

  @Test
  void theLauncherAndTheContainerEntryPointPassEveryCommonFlag() throws Exception {
    for (String file : List.of("batch-rpc", "deploy/docker/entrypoint.sh")) {
      List<String> exec = command(Files.readAllLines(Deploy.root().resolve(file)), "exec java");
      assertThat(exec).as(file).containsAll(JvmFlags.COMMON);
    }
    assertThat(JvmFlags.COMMON).contains("-XX:+ExitOnOutOfMemoryError");
  }

  @Test
  void theGpuBundleStartsTheSuiteWithEveryCommonFlag() throws Exception {
    // run.sh's suite(): the bundle's own java, as the launcher starts the suite
    List<String> java = command(Files.readAllLines(Deploy.root().resolve("scripts/gpu/run.sh")),
        "\"$JAVA\" \"${HEAP[@]}\"");
    assertThat(java).containsAll(JvmFlags.COMMON).containsSubsequence("-jar", "\"$SUITE\"");
  }

  /** The words of the script's command that starts with {@code start}, its continuation lines joined. */
  private static List<String> command(List<String> lines, String start) {
    StringBuilder b = new StringBuilder();
    boolean in = false;
    for (String line : lines) {
      String l = line.trim();
      in |= l.startsWith(start);
      if (in) {
        b.append(' ').append(l.endsWith("\\") ? l.substring(0, l.length() - 1) : l);
        if (!l.endsWith("\\")) {
          break;
        }
      }
    }
    assertThat(in).as("a line starting with '%s'", start).isTrue();
    return List.of(b.toString().trim().split("\\s+"));
  }
}
