package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import dev.batchrpc.runtime.testing.OomMain;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
      List<String> exec = execLine(Files.readAllLines(Deploy.root().resolve(file)));
      assertThat(exec).as(file).containsAll(JvmFlags.COMMON);
    }
    assertThat(JvmFlags.COMMON).contains("-XX:+ExitOnOutOfMemoryError");
  }

  @Test
  void theFlagsArePrintedOneALineForTheGpuBundle() {
    // scripts/gpu-check.sh writes them into the bundle; its run.sh starts the suite with them
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrintStream original = System.out;
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      JvmFlags.main(new String[0]);
    } finally {
      System.setOut(original);
    }
    assertThat(out.toString(StandardCharsets.UTF_8).lines().toList()).isEqualTo(JvmFlags.COMMON);
  }

  /** The words of the script's {@code exec java ...} command, its continuation lines joined. */
  private static List<String> execLine(List<String> lines) {
    StringBuilder b = new StringBuilder();
    boolean in = false;
    for (String l : lines) {
      in |= l.startsWith("exec java");
      if (in) {
        b.append(' ').append(l.endsWith("\\") ? l.substring(0, l.length() - 1) : l);
        if (!l.endsWith("\\")) {
          break;
        }
      }
    }
    assertThat(in).as("an 'exec java' line").isTrue();
    return List.of(b.toString().trim().split("\\s+"));
  }
}
