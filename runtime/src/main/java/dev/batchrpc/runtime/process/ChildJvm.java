package dev.batchrpc.runtime.process;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A child OS process (a service as its container would run it, a benchmark's trainer or observer),
 * its stdout and stderr collected line by line and, when given a log file, appended to it as they
 * come. The benchmarks and the tests start their JVMs with {@link #command}, so every child runs
 * with {@link JvmFlags#COMMON}, as the {@code batch-rpc} launcher runs every service.
 *
 * <p>Thread-safe: one reader thread per child fills the lines; any thread may wait for them.
 */
public final class ChildJvm implements AutoCloseable {

  /** The JVM's notice for {@code --add-modules=jdk.incubator.vector}; the launcher drops it too. */
  private static final String INCUBATOR_NOTICE = "WARNING: Using incubator modules";

  private final String name;
  private final Process process;
  private final Path log;
  private final List<String> lines = new ArrayList<>();
  /** Waits for a line, by {@link #line}; guarded by {@link #lines}. */
  private final List<LineWait> waits = new ArrayList<>();
  private final CompletableFuture<Integer> ended = new CompletableFuture<>();
  private final Thread reader;

  private record LineWait(Predicate<String> match, CompletableFuture<String> line) {
  }

  /**
   * The children still alive, killed when this JVM exits: a benchmark stopped by Ctrl-C or
   * {@code SIGTERM} must not leave its trainers, observers and servers running (found with
   * {@code bench chaos}, whose children outlived it).
   */
  private static final java.util.Set<Process> LIVE = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(ChildJvm::killLive, "child-jvm-reaper"));
  }

  /** SIGKILLs every live child (a stopped one too) and waits briefly for each to be gone. */
  private static void killLive() {
    for (Process p : LIVE) {
      p.destroyForcibly();
    }
    for (Process p : LIVE) {
      try {
        p.waitFor(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  private ChildJvm(String name, Process process, Path log) {
    LIVE.add(process);
    process.onExit().thenRun(() -> LIVE.remove(process));
    this.name = name;
    this.process = process;
    this.log = log;
    this.reader = new Thread(this::pump, "out-" + name);
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * The command line running {@code main} of this JVM's class path in a JVM of 256 MiB with
   * {@link JvmFlags#COMMON} (exit code 3 on {@code OutOfMemoryError}, the vector module, Hazelcast
   * quiet), plus {@code jvmFlags}; the program's arguments follow.
   */
  public static List<String> command(Class<?> main, String... jvmFlags) {
    List<String> options = new ArrayList<>();
    options.add("-Xmx256m");
    options.addAll(List.of(jvmFlags));
    return JvmFlags.command(options, main.getName());
  }

  /**
   * Starts {@code command} (see {@link #command}) with {@code args} and exactly the given
   * {@code BATCHRPC_*} environment (the parent's {@code BATCHRPC_*} variables are removed, so a
   * test's settings are the only ones), in this JVM's working directory, without a log file.
   */
  public static ChildJvm start(String name, List<String> command, List<String> args, Map<String, String> env)
      throws IOException {
    List<String> cmd = new ArrayList<>(command);
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().keySet().removeIf(k -> k.startsWith("BATCHRPC_"));
    pb.environment().putAll(env);
    pb.directory(new File(System.getProperty("user.dir")));
    return start(name, pb, null);
  }

  /**
   * Starts {@code builder} as it is set up (command, environment, directory), its stderr merged
   * into its stdout; every line is kept and, when {@code log} is not null, appended to that file.
   *
   * @param name what the child is, in messages ("trainer process bench-2")
   * @param builder the process to start; its output redirection is replaced
   * @param log the file the output is appended to, or null
   * @return the running child
   * @throws IOException when the process cannot start or the log cannot be created
   */
  public static ChildJvm start(String name, ProcessBuilder builder, Path log) throws IOException {
    if (log != null) {
      Files.newOutputStream(log, StandardOpenOption.CREATE, StandardOpenOption.APPEND).close();
    }
    builder.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.PIPE);
    return new ChildJvm(name, builder.start(), log);
  }

  private void pump() {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
        StandardCharsets.UTF_8)); Writer out = log == null ? Writer.nullWriter()
        : Files.newBufferedWriter(log, StandardCharsets.UTF_8, StandardOpenOption.APPEND)) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.startsWith(INCUBATOR_NOTICE)) {
          continue;
        }
        out.write(line);
        out.write(System.lineSeparator());
        out.flush();
        add(line);
      }
    } catch (IOException ignored) {
      // The process ended, or its log cannot be written: the lines kept still tell.
    } finally {
      synchronized (lines) {
        lines.notifyAll();
      }
      // Completed once everything the child printed is read (and logged): a report of its
      // death then quotes its last lines.
      process.onExit().thenAccept(p -> ended.complete(p.exitValue()));
    }
  }

  private void add(String line) {
    List<CompletableFuture<String>> matched = new ArrayList<>();
    synchronized (lines) {
      lines.add(line);
      lines.notifyAll();
      for (Iterator<LineWait> it = waits.iterator(); it.hasNext(); ) {
        LineWait w = it.next();
        if (w.match().test(line)) {
          matched.add(w.line());
          it.remove();
        }
      }
    }
    matched.forEach(f -> f.complete(line));
  }

  /**
   * The first line, printed so far or later, that matches; it stays incomplete when none does
   * (wait for it beside {@link #ended()}, or with a timeout).
   */
  public CompletableFuture<String> line(Predicate<String> match) {
    synchronized (lines) {
      for (String l : lines) {
        if (match.test(l)) {
          return CompletableFuture.completedFuture(l);
        }
      }
      CompletableFuture<String> f = new CompletableFuture<>();
      waits.add(new LineWait(match, f));
      return f;
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
      throw new IllegalStateException("no line '" + prefix + "' from " + output());
    }
    return line;
  }

  /** The port of the "metrics on http://host:PORT/metrics" line, waiting for it. */
  public int awaitMetricsPort(long timeoutMs) throws InterruptedException {
    Pattern p = Pattern.compile("metrics on http://[^:]+:(\\d+)/metrics");
    String line = awaitLine(l -> p.matcher(l).find(), timeoutMs);
    if (line == null) {
      throw new IllegalStateException(name + " printed no metrics line:\n" + output());
    }
    Matcher m = p.matcher(line);
    m.find();
    return Integer.parseInt(m.group(1));
  }

  /** What the child is, as given at the start. */
  public String name() {
    return name;
  }

  /** The OS process. */
  public Process process() {
    return process;
  }

  /** The OS process id. */
  public long pid() {
    return process.pid();
  }

  /** The log file its output is appended to, or null. */
  public Path log() {
    return log;
  }

  /** Completes with the exit code once the process has exited and all its output is read. */
  public CompletableFuture<Integer> ended() {
    return ended;
  }

  /** Waits for the exit; -1 if still running after the timeout. */
  public int awaitExit(long timeoutMs) throws InterruptedException {
    return process.waitFor(timeoutMs, TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
  }

  /** The last {@code n} lines printed so far. */
  public List<String> tail(int n) {
    synchronized (lines) {
      return List.copyOf(lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }
  }

  /** The lines printed so far from index {@code from} on (0 for all). */
  public List<String> linesFrom(int from) {
    synchronized (lines) {
      return List.copyOf(lines.subList(Math.min(Math.max(0, from), lines.size()), lines.size()));
    }
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
