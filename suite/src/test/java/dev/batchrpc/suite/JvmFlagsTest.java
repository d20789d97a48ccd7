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
  void theLauncherAndTheContainerEntryPointPassTheFlag() throws Exception {
    for (String file : List.of("batch-rpc", "deploy/docker/entrypoint.sh")) {
      String exec = Files.readAllLines(Deploy.root().resolve(file)).stream()
          .filter(l -> l.startsWith("exec java")).findFirst().orElseThrow();
      assertThat(exec).as(file).contains("-XX:+ExitOnOutOfMemoryError");
    }
    assertThat(JvmFlags.COMMON).contains("-XX:+ExitOnOutOfMemoryError");
  }
}
