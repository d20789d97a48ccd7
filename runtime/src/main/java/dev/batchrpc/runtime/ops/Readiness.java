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
  private final Map<String, String> reasons = new ConcurrentHashMap<>();
  private final Map<String, java.util.function.Supplier<String>> degradations = new ConcurrentHashMap<>();

  /** Registers a condition as not yet met (a service does this before it starts the work). */
  public Readiness require(String name) {
    conditions.putIfAbsent(name, Boolean.FALSE);
    return this;
  }

  /** Sets a condition (and forgets the reason it was down). */
  public void set(String name, boolean ready) {
    conditions.put(name, ready);
    if (ready) {
      reasons.remove(name);
    }
  }

  /**
   * Sets a condition down, saying why (served with the conditions on {@code /health/ready}), e.g.
   * "not in the rounds: the parameter server's node left the cluster; rejoining".
   */
  public void down(String name, String reason) {
    reasons.put(name, reason);
    conditions.put(name, Boolean.FALSE);
  }

  /** True when at least one condition is registered and all are met. */
  public boolean isReady() {
    return !conditions.isEmpty() && !conditions.containsValue(Boolean.FALSE);
  }

  /** Why conditions are down, where a reason was given ({@link #down}), sorted by name. */
  public Map<String, String> reasons() {
    Map<String, String> r = new TreeMap<>(reasons);
    r.keySet().removeIf(name -> !Boolean.FALSE.equals(conditions.get(name)));
    return r;
  }

  /**
   * Registers a way the process can go on serving with less than it promises (e.g. checkpoints
   * failing: training goes on, the loss bound does not hold). A degradation does not make the
   * process unready (a Kubernetes readiness probe taking it out of its Service would stop the
   * work altogether); {@code /health/ready} reports it as {@code DEGRADED} with the detail.
   *
   * @param name the check's name in {@code /health/ready}
   * @param detail what is wrong now, or null while all is well; called per request, any thread
   */
  public Readiness degradation(String name, java.util.function.Supplier<String> detail) {
    degradations.put(name, detail);
    return this;
  }

  /** The degradations present now (name to what is wrong), sorted by name. */
  public Map<String, String> degraded() {
    Map<String, String> now = new TreeMap<>();
    degradations.forEach((name, detail) -> {
      String d = detail.get();
      if (d != null) {
        now.put(name, d);
      }
    });
    return now;
  }

  /** The conditions, sorted by name. */
  public Map<String, Boolean> snapshot() {
    return new TreeMap<>(conditions);
  }
}
