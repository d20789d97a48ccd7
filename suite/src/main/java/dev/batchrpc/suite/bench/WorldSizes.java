package dev.batchrpc.suite.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/** {@code bench rl --world-sizes}: the agent and its observers, as a range or a list. */
final class WorldSizes {

  private WorldSizes() {
  }

  /** Parses "2-11" or "2,6,11" into sorted distinct world sizes, each >= 2. */
  static List<Integer> parse(String s) {
    TreeSet<Integer> set = new TreeSet<>();
    try {
      for (String part : s.split(",")) {
        String p = part.trim();
        int dash = p.indexOf('-', 1);
        if (dash > 0) {
          int a = Integer.parseInt(p.substring(0, dash).trim());
          int b = Integer.parseInt(p.substring(dash + 1).trim());
          if (b < a) {
            throw new IllegalArgumentException("--world-sizes range '" + p + "' is empty");
          }
          for (int i = a; i <= b; i++) {
            set.add(i);
          }
        } else {
          set.add(Integer.parseInt(p));
        }
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--world-sizes must be a range like 2-11 or a list like 2,6,11, got '" + s + "'");
    }
    if (set.isEmpty() || set.first() < 2) {
      throw new IllegalArgumentException("--world-sizes must all be >= 2 (agent + at least one observer), got '" + s + "'");
    }
    return new ArrayList<>(set);
  }
}
