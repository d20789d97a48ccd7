package dev.batchrpc.suite.bench.chaos;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** A fault {@code bench chaos} injects: SIGKILL (then a restart) or SIGSTOP (then SIGCONT) of one role. */
public enum Fault {
  KILL_TRAINER(Role.TRAINER, true, 2),
  STOP_TRAINER(Role.TRAINER, false, 2),
  KILL_OBSERVER(Role.OBSERVER, true, 2),
  STOP_OBSERVER(Role.OBSERVER, false, 2),
  KILL_PS(Role.PS, true, 1),
  STOP_PS(Role.PS, false, 1),
  KILL_AGENT(Role.AGENT, true, 1),
  STOP_AGENT(Role.AGENT, false, 1);

  private final Role role;
  private final boolean kill;
  private final int weight;

  Fault(Role role, boolean kill, int weight) {
    this.role = role;
    this.kill = kill;
    this.weight = weight;
  }

  /** Whose process it hits. */
  public Role role() {
    return role;
  }

  /** SIGKILL and a restart (true) or SIGSTOP and SIGCONT (false). */
  public boolean kill() {
    return kill;
  }

  /**
   * Its cards in the default deck: the participants' faults twice as often as the servers' (there
   * are several participants, and a server that lives long shows whether its heap is flat).
   */
  public int weight() {
    return weight;
  }

  /** The CLI name, e.g. {@code kill-ps}. */
  public String cliName() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** Parses a comma-separated list of CLI names ("all" for every fault, at its default weight). */
  public static List<Fault> parseList(String text) {
    if (text.isBlank() || text.trim().equalsIgnoreCase("all")) {
      return List.of(values());
    }
    List<Fault> out = new ArrayList<>();
    for (String part : text.split(",")) {
      String name = part.trim();
      Fault f = Arrays.stream(values()).filter(v -> v.cliName().equals(name)).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("--faults: unknown fault '" + name + "'; known: "
              + Arrays.stream(values()).map(Fault::cliName).toList()));
      if (!out.contains(f)) {
        out.add(f);
      }
    }
    return out;
  }
}
