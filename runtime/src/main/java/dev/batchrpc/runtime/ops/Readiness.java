package dev.batchrpc.runtime.ops;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Named readiness conditions of one process ("cluster joined", "consumers registered", "model
 * loaded"). The process is ready when every registered condition is true. Thread-safe: verticles on
 * different contexts set their own conditions.
 */
public final class Readiness {

  private final Map<String, Boolean> conditions = new ConcurrentHashMap<>();

  /** Registers a condition as not yet met (a service does this before it starts the work). */
  public Readiness require(String name) {
    conditions.putIfAbsent(name, Boolean.FALSE);
    return this;
  }

  /** Sets a condition. */
  public void set(String name, boolean ready) {
    conditions.put(name, ready);
  }

  /** True when at least one condition is registered and all are met. */
  public boolean isReady() {
    return !conditions.isEmpty() && !conditions.containsValue(Boolean.FALSE);
  }

  /** The conditions, sorted by name. */
  public Map<String, Boolean> snapshot() {
    return new TreeMap<>(conditions);
  }
}
