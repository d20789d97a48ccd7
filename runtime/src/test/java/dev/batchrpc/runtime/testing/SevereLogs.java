package dev.batchrpc.runtime.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Collects what this JVM logs as SEVERE (java.util.logging's root: Vert.x's and System.Logger's
 * records end there) while open, for tests that must log nothing SEVERE.
 */
public final class SevereLogs extends Handler implements AutoCloseable {

  private final List<LogRecord> records = new CopyOnWriteArrayList<>();

  private SevereLogs() {
  }

  /** Starts collecting; {@link #close()} stops. */
  public static SevereLogs capture() {
    SevereLogs logs = new SevereLogs();
    Logger.getLogger("").addHandler(logs);
    return logs;
  }

  /** The messages logged as SEVERE so far. */
  public List<String> messages() {
    return records.stream().map(r -> r.getLoggerName() + ": " + r.getMessage()
        + (r.getThrown() == null ? "" : " (" + r.getThrown() + ")")).toList();
  }

  @Override
  public void publish(LogRecord r) {
    if (r.getLevel().intValue() >= Level.SEVERE.intValue()) {
      records.add(r);
    }
  }

  @Override
  public void flush() {
  }

  @Override
  public void close() {
    Logger.getLogger("").removeHandler(this);
  }
}
