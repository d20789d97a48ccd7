package dev.batchrpc.runtime.process;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The JVM flags every service JVM runs with: the {@code batch-rpc} launcher's and the container
 * entry point's (suite's {@code JvmFlagsTest} checks that both pass every one), and those of every
 * child JVM the benchmarks and the tests start ({@link ChildJvm#command}).
 *
 * <p>{@code -XX:+ExitOnOutOfMemoryError} first of all: a JVM that hits {@code OutOfMemoryError} on
 * an event loop otherwise logs it, keeps running and stays a cluster member, so the rounds that
 * wait for it hang until their maximum wait; exiting at once (code 3) lets membership drop it
 * within a second and lets a benchmark report the dead child.
 */
public final class JvmFlags {

  /** Exit code of a JVM that ran out of memory under {@code -XX:+ExitOnOutOfMemoryError}. */
  public static final int OOM_EXIT_CODE = 3;

  /**
   * The flags: exit on OOM; the vector module (netlib's vectorized Java BLAS); the JDK internals
   * Hazelcast reads for speed (without them it warns at every start); Hazelcast without phone-home
   * and logging through JDK logging.
   */
  public static final List<String> COMMON = List.of(
      "-XX:+ExitOnOutOfMemoryError",
      "--add-modules=jdk.incubator.vector,java.se",
      "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
      "--add-opens=java.base/java.lang=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-opens=java.management/sun.management=ALL-UNNAMED",
      "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
      "-Dhazelcast.phone.home.enabled=false",
      "-Dhazelcast.logging.type=jdk");

  private JvmFlags() {
  }

  /**
   * Prints {@link #COMMON}, one flag a line: for what starts the suite without the launcher
   * ({@code scripts/gpu-check.sh} writes them into the GPU bundle, whose run.sh reads them).
   */
  public static void main(String[] args) {
    COMMON.forEach(System.out::println);
  }

  /** The java executable of this JVM (a child runs on the same runtime). */
  public static String java() {
    return ProcessHandle.current().info().command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
  }

  /**
   * {@code java} with {@code jvmOptions}, then {@link #COMMON} (so a caller's options can't drop
   * them), this JVM's class path and {@code mainClass}; the program's arguments follow.
   */
  public static List<String> command(List<String> jvmOptions, String mainClass) {
    List<String> cmd = new ArrayList<>();
    cmd.add(java());
    cmd.addAll(jvmOptions);
    cmd.addAll(COMMON);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
    return cmd;
  }
}
