package dev.batchrpc.suite.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * System properties a bench sets for its own nodes ({@code Nodes.start} reads them), put back as
 * they were when the bench ends: a bench run inside a longer-lived JVM (a test) leaves no setting
 * behind for the nodes started after it.
 */
final class ScopedProperties implements AutoCloseable {

  private final Map<String, String> before = new LinkedHashMap<>();

  /** Sets {@code name} to {@code value} until {@link #close}. */
  ScopedProperties set(String name, String value) {
    before.putIfAbsent(name, System.getProperty(name));
    System.setProperty(name, value);
    return this;
  }

  @Override
  public void close() {
    before.forEach((name, value) -> {
      if (value == null) {
        System.clearProperty(name);
      } else {
        System.setProperty(name, value);
      }
    });
    before.clear();
  }
}
