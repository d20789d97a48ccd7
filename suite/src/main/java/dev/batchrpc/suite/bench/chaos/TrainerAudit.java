package dev.batchrpc.suite.bench.chaos;

import dev.batchrpc.ps.RoundLog;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a trainer's claim of success against the parameter server's {@code --round-log}, which
 * holds every step's version and trainers and is written before any of them is answered: a
 * trainer that says "done: N rounds, model vX" must have had its gradient in at least N logged
 * steps while it ran, one of which made version X. A claim that fails this is a false success.
 *
 * <p>While it ran: between the harness starting its process and seeing it exit. Steps of an
 * earlier, killed process of the same id can land in that window (a request already in the open
 * round is answered after its sender died), so the count may exceed N by a little; it can never be
 * below N for an honest trainer.
 */
public final class TrainerAudit {

  private static final Pattern DONE = Pattern.compile("^trainer (\\S+): done: (\\d+) rounds.*?, model v(\\d+), ");

  private TrainerAudit() {
  }

  /** What a trainer's summary line says, and when its process ran (Unix ms). */
  public record Claim(String id, int rounds, long finalVersion, long startMs, long endMs) {
  }

  /** The check's outcome: {@code ok} when the claim is backed by the log. */
  public record Verdict(boolean ok, int stepsWithIt, boolean finalVersionLogged, String detail) {
  }

  /** The claim of a "trainer ID: done: ..." line, or null for any other line. */
  public static Claim parse(String line, long startMs, long endMs) {
    Matcher m = DONE.matcher(line);
    if (!m.find()) {
      return null;
    }
    return new Claim(m.group(1), Integer.parseInt(m.group(2)), Long.parseLong(m.group(3)), startMs, endMs);
  }

  /**
   * @param claim the trainer's claim
   * @param batches the rounds it was started for ({@code --batches}): success means all of them
   * @param log the round log's entries (of every server process of the run)
   */
  public static Verdict check(Claim claim, int batches, List<RoundLog.Entry> log) {
    int steps = 0;
    boolean finalLogged = false;
    for (RoundLog.Entry e : log) {
      if (e.unixMs() < claim.startMs() || e.unixMs() > claim.endMs() || !e.ids().contains(claim.id())) {
        continue;
      }
      steps++;
      if (e.version() == claim.finalVersion()) {
        finalLogged = true;
      }
    }
    boolean ok = claim.rounds() == batches && steps >= batches && finalLogged;
    String detail = "claimed " + claim.rounds() + " of " + batches + " rounds ending at v" + claim.finalVersion()
        + "; the round log has its gradient in " + steps + " step(s) while it ran"
        + (finalLogged ? ", v" + claim.finalVersion() + " among them" : ", none making v" + claim.finalVersion());
    return new Verdict(ok, steps, finalLogged, detail);
  }
}
