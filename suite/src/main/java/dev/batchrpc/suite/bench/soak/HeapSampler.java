package dev.batchrpc.suite.bench.soak;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/** The heap a soak watches: in use after a full GC, and its trend over time. */
public final class HeapSampler {

  private HeapSampler() {
  }

  /**
   * The heap in use right after a full collection, in MB: what the collector itself reports it
   * left in the heap's pools (so allocation after the GC does not count), or the heap in use just
   * after {@code System.gc()} where the JVM does not report that.
   */
  public static double heapAfterGcMb() {
    System.gc();
    Set<String> heapPools = ManagementFactory.getMemoryPoolMXBeans().stream()
        .filter(p -> p.getType() == MemoryType.HEAP).map(MemoryPoolMXBean::getName).collect(Collectors.toSet());
    com.sun.management.GcInfo latest = null;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof com.sun.management.GarbageCollectorMXBean sun) {
        com.sun.management.GcInfo info = sun.getLastGcInfo();
        if (info != null && (latest == null || info.getEndTime() > latest.getEndTime())) {
          latest = info;
        }
      }
    }
    if (latest == null) {
      return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 1e6;
    }
    long used = 0;
    for (Map.Entry<String, MemoryUsage> e : latest.getMemoryUsageAfterGc().entrySet()) {
      if (heapPools.contains(e.getKey())) {
        used += e.getValue().getUsed();
      }
    }
    return used / 1e6;
  }

  /**
   * Least-squares slope of heap against time, in MB per minute; NaN for fewer than two distinct
   * times.
   *
   * @param seconds the sample times
   * @param heapMb the heap at each time, in MB
   */
  public static double slopeMbPerMin(double[] seconds, double[] heapMb) {
    double mt = java.util.Arrays.stream(seconds).sum() / seconds.length;
    double mh = java.util.Arrays.stream(heapMb).sum() / heapMb.length;
    double num = 0;
    double den = 0;
    for (int i = 0; i < seconds.length; i++) {
      num += (seconds[i] - mt) * (heapMb[i] - mh);
      den += (seconds[i] - mt) * (seconds[i] - mt);
    }
    return den == 0 ? Double.NaN : num / den * 60;
  }
}
