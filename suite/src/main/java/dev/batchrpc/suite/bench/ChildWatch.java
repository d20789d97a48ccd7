package dev.batchrpc.suite.bench;

import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Watches a benchmark's child processes ({@link ChildJvm#ended()}) so that a wait for rounds or
 * episodes ends at once when one dies, with an error naming the process, its exit code, its log
 * and its last lines, instead of running into a long timeout (or, for the agent, quietly going on
 * with fewer observers).
 *
 * <p>Thread-safe: exits are seen on the children's reader threads, waits run on the bench's main
 * thread.
 */
final class ChildWatch implements AutoCloseable {

  /** Lines of the dead child's output quoted in the error. */
  static final int TAIL_LINES = 20;

  /** A child died before the run ended; the message says which, how, and where its log is. */
  static final class ChildDiedException extends IllegalStateException {
    ChildDiedException(String message) {
      super(message);
    }
  }

  private final boolean cleanExitIsExpected;
  private final List<ChildJvm> children = new CopyOnWriteArrayList<>();
  private final CompletableFuture<ChildJvm> death = new CompletableFuture<>();
  private volatile boolean closed;

  /**
   * @param cleanExitIsExpected whether exit code 0 is a normal end (a trainer after its last
   *     round) rather than a death (an observer must serve until the bench stops it)
   */
  ChildWatch(boolean cleanExitIsExpected) {
    this.cleanExitIsExpected = cleanExitIsExpected;
  }

  /** Watches {@code child} from now on; returns it. */
  ChildJvm add(ChildJvm child) {
    children.add(child);
    child.ended().thenAccept(code -> {
      if (!closed && !(cleanExitIsExpected && code == 0)) {
        death.complete(child);
      }
    });
    return child;
  }

  /** The children, in the order added. */
  List<ChildJvm> children() {
    return List.copyOf(children);
  }

  /** Throws the death's error if a child has died. */
  void check() {
    if (death.isDone()) {
      throw new ChildDiedException(describe(death.join()));
    }
  }

  /**
   * Waits for {@code stage}, at most {@code timeoutMs} (none if {@code <= 0}); ends at once, with a
   * {@link ChildDiedException}, when a watched child dies first.
   */
  <T> T await(CompletionStage<T> stage, long timeoutMs, Supplier<String> timeoutMessage) throws Exception {
    CompletableFuture<T> f = stage.toCompletableFuture();
    CompletableFuture<Object> either = CompletableFuture.anyOf(f, death);
    try {
      if (timeoutMs > 0) {
        either.get(timeoutMs, TimeUnit.MILLISECONDS);
      } else {
        either.get();
      }
    } catch (TimeoutException e) {
      throw new IllegalStateException(timeoutMessage.get());
    } catch (ExecutionException e) {
      // f failed: reported below
    }
    if (!f.isDone()) {
      check();
    }
    try {
      return f.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof Exception ex) {
        throw ex;
      }
      throw e;
    }
  }

  /** {@link #await(CompletionStage, long, Supplier)} for a Vert.x future. */
  <T> T await(io.vertx.core.Future<T> future, long timeoutMs, String timeoutMessage) throws Exception {
    return await(future.toCompletionStage(), timeoutMs, () -> timeoutMessage);
  }

  /**
   * Waits for every child to exit, at most {@code timeoutMs} each, after {@code what} ("the last
   * round"); throws a {@link ChildDiedException} for one that exits with another code than 0.
   */
  void awaitCleanExits(long timeoutMs, String what) throws InterruptedException, ExecutionException {
    for (ChildJvm c : children) {
      int code;
      try {
        code = c.ended().get(timeoutMs, TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        throw new IllegalStateException(c.name() + " (pid " + c.pid() + ") did not exit " + timeoutMs / 1000
            + " s after " + what + "; log: " + c.log());
      }
      if (code != 0) {
        throw new ChildDiedException(describe(c));
      }
    }
  }

  /**
   * Runs a benchmark's body ({@code command}: its name in messages, e.g. {@code batch-rpc bench ps}):
   * a dead child process ends it with the death's report (the process,
   * its exit code, its log and the log's last lines) on the command's stderr and exit code 1,
   * without a stack trace.
   */
  static int reportingDeaths(picocli.CommandLine.Model.CommandSpec spec, String command,
      java.util.concurrent.Callable<Integer> body) throws Exception {
    try {
      return body.call();
    } catch (ChildDiedException e) {
      spec.commandLine().getErr().println(command + ": " + e.getMessage());
      spec.commandLine().getErr().flush();
      return 1;
    }
  }

  /** The error text of a dead child. */
  static String describe(ChildJvm c) {
    int code = c.process().exitValue();
    StringBuilder b = new StringBuilder();
    b.append(c.name()).append(" (pid ").append(c.pid()).append(") exited with code ").append(code);
    if (code == JvmFlags.OOM_EXIT_CODE) {
      b.append(" (out of memory: -XX:+ExitOnOutOfMemoryError)");
    } else if (code > 128) {
      b.append(" (killed by signal ").append(code - 128).append(')');
    }
    b.append(" before the run ended");
    if (c.log() != null) {
      b.append("; log: ").append(c.log().toAbsolutePath());
    }
    List<String> tail = c.tail(TAIL_LINES);
    if (tail.isEmpty()) {
      b.append(" (no output)");
    } else {
      b.append("; its last ").append(tail.size()).append(" lines:");
      for (String line : tail) {
        b.append(System.lineSeparator()).append("  | ").append(line);
      }
    }
    return b.toString();
  }

  /** Stops watching (the bench now ends its children itself) and ends the children still alive. */
  @Override
  public void close() throws InterruptedException {
    closed = true;
    for (ChildJvm c : children) {
      c.process().destroy();
    }
    for (ChildJvm c : children) {
      if (!c.process().waitFor(15, TimeUnit.SECONDS)) {
        c.process().destroyForcibly();
      }
    }
  }
}
