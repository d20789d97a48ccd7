package dev.batchrpc.runtime.process;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A command of the test classpath as a child OS process (a service as its container would run
 * it), with its output collected line by line. Tests close it in {@code @AfterEach}.
 */
public final class ChildJvm implements AutoCloseable {

  private final String name;
  private final Process process;
  private final List<String> lines = new ArrayList<>();
  private final Thread reader;

  private ChildJvm(String name, Process process) {
    this.name = name;
    this.process = process;
    this.reader = new Thread(this::pump, "out-" + name);
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * The command line running {@code main} of the test classpath in a JVM of 256 MiB that exits on
   * {@code OutOfMemoryError} (code 3, as the {@code batch-rpc} launcher runs every service), with
   * the vector module, Hazelcast quiet (no phone-home, JDK logging), plus {@code jvmFlags}; the
   * program's arguments follow.
   */
  public static List<String> command(Class<?> main, String... jvmFlags) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(List.of("-Xmx256m", "-XX:+ExitOnOutOfMemoryError", "--add-modules=jdk.incubator.vector",
        "-Dhazelcast.phone.home.enabled=false", "-Dhazelcast.logging.type=jdk"));
    cmd.addAll(List.of(jvmFlags));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
    return cmd;
  }

  /**
   * Starts {@code command} (see {@link #command}) with {@code args} and exactly the given
   * {@code BATCHRPC_*} environment (the parent's {@code BATCHRPC_*} variables are removed, so the
   * test's settings are the only ones).
   */
  public static ChildJvm start(String name, List<String> command, List<String> args, Map<String, String> env)
      throws IOException {
    List<String> cmd = new ArrayList<>(command);
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().keySet().removeIf(k -> k.startsWith("BATCHRPC_"));
    pb.environment().putAll(env);
    pb.directory(new File(System.getProperty("user.dir")));
    return new ChildJvm(name, pb.start());
  }

  private void pump() {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
        StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        synchronized (lines) {
          lines.add(line);
          lines.notifyAll();
        }
      }
    } catch (IOException ignored) {
      // The process ended.
    }
  }

  /** Waits until a line matches, the process exits, or the time is up; returns the line or null. */
  public String awaitLine(Predicate<String> match, long timeoutMs) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    int seen = 0;
    synchronized (lines) {
      while (true) {
        for (; seen < lines.size(); seen++) {
          if (match.test(lines.get(seen))) {
            return lines.get(seen);
          }
        }
        long left = deadline - System.currentTimeMillis();
        if (left <= 0 || (!process.isAlive() && !reader.isAlive())) {
          return null;
        }
        lines.wait(Math.min(left, 200));
      }
    }
  }

  /** The first line starting with {@code prefix}; fails with the output if none comes in time. */
  public String awaitPrefix(String prefix, long timeoutMs) throws InterruptedException {
    String line = awaitLine(l -> l.startsWith(prefix), timeoutMs);
    if (line == null) {
      throw new AssertionError("no line '" + prefix + "' from " + output());
    }
    return line;
  }

  /** The port of the "metrics on http://host:PORT/metrics" line, waiting for it. */
  public int awaitMetricsPort(long timeoutMs) throws InterruptedException {
    Pattern p = Pattern.compile("metrics on http://[^:]+:(\\d+)/metrics");
    String line = awaitLine(l -> p.matcher(l).find(), timeoutMs);
    if (line == null) {
      throw new AssertionError(name + " printed no metrics line:\n" + output());
    }
    Matcher m = p.matcher(line);
    m.find();
    return Integer.parseInt(m.group(1));
  }

  /** The OS process. */
  public Process process() {
    return process;
  }

  /** The OS process id. */
  public long pid() {
    return process.pid();
  }

  /** Waits for the exit; -1 if still running after the timeout. */
  public int awaitExit(long timeoutMs) throws InterruptedException {
    return process.waitFor(timeoutMs, TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
  }

  /** Everything printed so far. */
  public String output() {
    synchronized (lines) {
      return name + ":\n  " + String.join("\n  ", lines);
    }
  }

  /** Ends the process (SIGTERM, then SIGKILL after 5 s). */
  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    }
  }
}
