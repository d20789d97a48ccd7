package dev.batchrpc.suite.bench.chaos;

import dev.batchrpc.ps.RoundLog;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.process.JvmFlags;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * One chaos run (see {@code batch-rpc bench chaos}): starts the processes, injects the faults of a
 * {@link FaultPlan}, restarts what it killed and what ended, watches progress and heaps, and
 * judges. Everything happens on the calling thread, in ticks of {@link #TICK_MS}.
 *
 * <p>What is checked:
 * <ul>
 *   <li><b>No hang.</b> A service stalls while it is running (not stopped) and at least one of its
 *       participants is running, and it makes no progress: the ps appends no step to its round log,
 *       the agent prints no episode. A stall longer than {@code --stall-s} is a hang. After the last
 *       fault both services must make progress again within {@code --stall-s}, and every process
 *       must exit within {@link #TERM_WAIT_S} s of a SIGTERM.</li>
 *   <li><b>No false success.</b> A trainer that says "done" is checked against the round log
 *       ({@link TrainerAudit}); a trainer that exits 0 without saying it is a false success too.</li>
 *   <li><b>Loud failures.</b> A process that exits non-zero without being killed must name its
 *       reason (a {@code batch-rpc ...:} error line, or the JVM's out-of-memory line); it is then
 *       started again. One that exits without a reason is a silent failure.</li>
 *   <li><b>Flat heap.</b> The heap after a full GC of the ps, the agent and the observers, sampled
 *       in turn; every incarnation that lived long enough must have a slope below the bound.</li>
 * </ul>
 */
public final class ChaosRun {

  /** Milliseconds between two looks at the processes. */
  static final int TICK_MS = 200;
  /** Seconds a process has to exit after SIGTERM at the end. */
  static final int TERM_WAIT_S = 20;
  /** Seconds the services have to make their first progress at the start. */
  static final int STARTUP_S = 180;
  /** Samples after the warm-up, and seconds they span, before a heap slope is judged. */
  static final int MIN_SAMPLES = 6;
  static final double MIN_SPAN_S = 120;
  /** Stalls at least this long are printed when they end. */
  static final long REPORTED_STALL_MS = 10_000;
  /** Seconds between two progress lines. */
  static final int PROGRESS_EVERY_S = 30;

  private static final Pattern HEAP_USED = Pattern.compile(
      "^\\s*(def new generation|tenured generation|garbage-first heap|PSYoungGen|ParOldGen|ZHeap|Shenandoah)\\b.*?"
          + "used (\\d+)K");

  /** The run's settings (see {@code ChaosBench}'s options). */
  public record Settings(int durationS, double faultEveryS, List<Fault> faults, long seed, int trainers, int batches,
      String layers, int observers, int episodes, int steps, int memberTimeoutS, int maxWaitMs, int stallS,
      int heapEveryS, int heapWarmupS, double maxSlopeMbPerMin, List<String> javaOpts, Path out) {
  }

  /** Starts {@code batch-rpc <role>} as a clustered child process. */
  @FunctionalInterface
  public interface Spawner {
    ChildJvm spawn(String what, Role role, List<String> jvmOptions, Path log, List<String> args) throws IOException;
  }

  /** One injected fault. */
  public record FaultRecord(double atS, Fault fault, String target, long pid, double seconds) {
  }

  /** How one process run ended. */
  public enum Outcome {
    /** A trainer's "done" backed by the round log. */
    VERIFIED,
    /** An agent that ran its episodes and said so. */
    FINISHED,
    /** Killed by the bench (SIGKILL, or SIGTERM at the end). */
    ENDED_BY_BENCH,
    /** Exited non-zero by itself, naming its reason. */
    FAILED_LOUDLY,
    /** A success claim the round log does not back, or exit 0 without a summary. */
    FALSE_SUCCESS,
    /** Exited by itself without a reason. */
    FAILED_SILENTLY
  }

  /** One process run: which, how long, how it ended. */
  public record RunRecord(String label, Role role, long pid, double startS, double endS, int exitCode, Outcome outcome,
      String detail) {
  }

  /** The heap of one process run, after full GCs. */
  public record HeapSeries(String label, Role role, List<double[]> samples, double slopeMbPerMin, int slopeSamples,
      boolean judged) {
  }

  /**
   * The heap of every run of one role, pooled: the slope within runs (each run's samples after the
   * warm-up around its own mean, so a restart's fresh heap is not read as a fall), over all of them.
   */
  public record RoleHeap(Role role, int runs, int samples, double spanS, double slopeMbPerMin, boolean judged) {
  }

  /** A service's progress and stalls. */
  public record ServiceStats(String name, long progress, int incarnations, double longestStallS, List<String> hangs) {
  }

  /** What the run found. */
  public record Report(Settings settings, double seconds, List<FaultRecord> faults, List<RunRecord> runs,
      ServiceStats ps, ServiceStats agent, List<String> problems, List<HeapSeries> heap, List<RoleHeap> heapByRole,
      boolean heapFlat, Path dir) {

    /** No hang, no false success, no silent failure, flat heaps, and faults were injected. */
    public boolean passed() {
      return problems.isEmpty();
    }

    /** Runs with the given outcome. */
    public long count(Outcome o) {
      return runs.stream().filter(r -> r.outcome() == o).count();
    }

    /** Faults of each kind. */
    public Map<Fault, Long> faultCounts() {
      Map<Fault, Long> m = new EnumMap<>(Fault.class);
      for (FaultRecord f : faults) {
        m.merge(f.fault(), 1L, Long::sum);
      }
      return m;
    }
  }

  /** Progress and stall bookkeeping of one service. */
  private static final class Watch {
    final String name;
    long progress;
    int incarnations;
    long stalledMs;
    long longestStallMs;
    boolean inHang;
    final List<String> hangs = new ArrayList<>();

    Watch(String name) {
      this.name = name;
    }

    ServiceStats stats() {
      return new ServiceStats(name, progress, incarnations, longestStallMs / 1000.0, List.copyOf(hangs));
    }
  }

  private final Settings s;
  private final Spawner spawner;
  private final PrintStream out;
  private final FaultPlan plan;
  private final List<Member> members = new ArrayList<>();
  private final Member ps;
  private final Member agent;
  private final List<FaultRecord> faults = new ArrayList<>();
  private final List<RunRecord> runs = new ArrayList<>();
  private final List<HeapSeries> heap = new ArrayList<>();
  private final List<String> problems = new ArrayList<>();
  private final Watch psWatch = new Watch("ps");
  private final Watch agentWatch = new Watch("agent");
  private Path dir;
  private Path logs;
  private Path checkpoints;
  private Path roundLog;
  private Path jcmd;
  private long t0;
  private long lastTick;
  private long roundLogOffset;
  private int heapTurn;

  public ChaosRun(Settings settings, Spawner spawner, PrintStream out) {
    this.s = settings;
    this.spawner = spawner;
    this.out = out;
    this.plan = new FaultPlan(settings.seed(), settings.faults(), settings.faultEveryS(), 2.0 * settings.memberTimeoutS());
    this.ps = new Member(Role.PS, "ps", 0);
    this.agent = new Member(Role.AGENT, "agent", 0);
    members.add(ps);
    for (int i = 0; i < settings.trainers(); i++) {
      members.add(new Member(Role.TRAINER, "chaos-t" + i, i));
    }
    members.add(agent);
    for (int i = 0; i < settings.observers(); i++) {
      members.add(new Member(Role.OBSERVER, "observer-" + i, i));
    }
  }

  /** Runs it: start, faults for the duration, recovery, SIGTERM; then the report. */
  public Report run() throws Exception {
    String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss", Locale.ROOT).format(LocalDateTime.now());
    Files.createDirectories(s.out());
    dir = Files.createTempDirectory(s.out(), "chaos-" + stamp + "-");
    logs = Files.createDirectories(dir.resolve("logs"));
    checkpoints = Files.createDirectories(dir.resolve("checkpoints"));
    roundLog = dir.resolve("ps-rounds.log");
    Path j = Path.of(JvmFlags.java()).resolveSibling("jcmd");
    jcmd = Files.isExecutable(j) ? j : null;
    out.printf(Locale.ROOT, "[bench chaos] %d s of faults (%s, about every %.1f s, seed %d) on the ps with %d trainers "
            + "(%d rounds per run, MLP %s) and the agent with %d observers (%d episodes x %d steps per run); member "
            + "timeout %d s, max wait %d ms, stall limit %d s; folder %s%n",
        s.durationS(), s.faults().stream().map(Fault::cliName).collect(Collectors.joining(",")), s.faultEveryS(),
        s.seed(), s.trainers(), s.batches(), s.layers(), s.observers(), s.episodes(), s.steps(), s.memberTimeoutS(),
        s.maxWaitMs(), s.stallS(), dir);
    if (jcmd == null && s.heapEveryS() > 0) {
      out.println("[bench chaos] no jcmd beside " + JvmFlags.java() + ": heaps are not sampled");
    }
    t0 = System.currentTimeMillis();
    lastTick = t0;
    try {
      for (Member m : members) {
        start(m, t0);
      }
      if (!startUp()) {
        return report();
      }
      out.printf(Locale.ROOT, "[bench chaos] %.1f s: both services made progress; faults begin%n", secondsAt(now()));
      long faultsFrom = now();
      long end = faultsFrom + s.durationS() * 1000L;
      long nextFault = faultsFrom + (long) (plan.nextGapS() * 1000);
      long nextHeap = faultsFrom + s.heapEveryS() * 1000L;
      long nextLine = faultsFrom + PROGRESS_EVERY_S * 1000L;
      while (now() < end) {
        long now = now();
        tick(now);
        if (now >= nextFault) {
          inject(now);
          nextFault = now + (long) (plan.nextGapS() * 1000);
        }
        if (s.heapEveryS() > 0 && jcmd != null && now >= nextHeap) {
          sampleHeap(now);
          nextHeap = now() + s.heapEveryS() * 1000L;
        }
        if (now >= nextLine) {
          progressLine(now, faultsFrom);
          nextLine += PROGRESS_EVERY_S * 1000L;
        }
        Thread.sleep(TICK_MS);
      }
      recover();
    } finally {
      shutDown();
    }
    return report();
  }

  // ---- phases ------------------------------------------------------------------------------------

  /** Until both services made progress once (no faults yet); false, with a problem, if they did not. */
  private boolean startUp() throws Exception {
    long deadline = t0 + STARTUP_S * 1000L;
    while (now() < deadline) {
      tick(now());
      if (psWatch.progress > 0 && agentWatch.progress > 0) {
        psWatch.stalledMs = 0;
        agentWatch.stalledMs = 0;
        return true;
      }
      Thread.sleep(TICK_MS);
    }
    problems.add("the services did not start: after " + STARTUP_S + " s the ps had made " + psWatch.progress
        + " step(s) and the agent " + agentWatch.progress + " episode(s); logs in " + logs);
    return false;
  }

  /** After the last fault: everything runs again and both services must progress within the stall limit. */
  private void recover() throws Exception {
    long now = now();
    for (Member m : members) {
      if (m.contAtMs >= 0) {
        m.contAtMs = now;
      }
    }
    long psAt = psWatch.progress;
    long agentAt = agentWatch.progress;
    out.printf(Locale.ROOT, "[bench chaos] %.1f s: last fault done; every process runs again; waiting for progress%n",
        secondsAt(now));
    long deadline = now + s.stallS() * 1000L;
    boolean psBack = false;
    boolean agentBack = false;
    while (now() < deadline && !(psBack && agentBack)) {
      tick(now());
      // progress after every stopped process was continued and every killed one restarted
      boolean settled = members.stream().allMatch(m -> m.contAtMs < 0 && m.restartAtMs < 0);
      psBack |= settled && psWatch.progress > psAt + 1;
      agentBack |= settled && agentWatch.progress > agentAt + 1;
      if (!settled) {
        psAt = psWatch.progress;
        agentAt = agentWatch.progress;
      }
      Thread.sleep(TICK_MS);
    }
    if (!psBack) {
      hang(psWatch, "made no progress within " + s.stallS() + " s after the last fault");
    }
    if (!agentBack) {
      hang(agentWatch, "made no progress within " + s.stallS() + " s after the last fault");
    }
    out.printf(Locale.ROOT, "[bench chaos] %.1f s: recovered: ps %s, agent %s%n", secondsAt(now()),
        psBack ? "stepping" : "STALLED", agentBack ? "running episodes" : "STALLED");
  }

  /** SIGTERM to everything still alive; one that does not exit in time hangs. */
  private void shutDown() throws Exception {
    List<Member> alive = new ArrayList<>();
    for (Member m : members) {
      m.restartAtMs = -1;
      if (m.alive()) {
        if (m.stoppedSinceMs >= 0) {
          cont(m);
        }
        m.endedByBench = true;
        m.child.process().destroy();
        alive.add(m);
      }
    }
    for (Member m : alive) {
      if (!m.child.process().waitFor(TERM_WAIT_S, TimeUnit.SECONDS)) {
        problems.add("hang: " + m.label() + " (pid " + m.child.pid() + ") did not exit " + TERM_WAIT_S
            + " s after SIGTERM; log " + m.child.log());
        m.child.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      try {
        m.child.ended().get(10, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        // its output reader still runs: judge it on what was read
      }
      ended(m, now(), false);
    }
  }

  // ---- one tick ----------------------------------------------------------------------------------

  private void tick(long now) throws IOException {
    for (Member m : members) {
      if (m.child != null && m.child.ended().isDone()) {
        ended(m, now, true);
      }
      if (m.contAtMs >= 0 && now >= m.contAtMs) {
        cont(m);
      }
      if (m.restartAtMs >= 0 && now >= m.restartAtMs && m.child == null) {
        start(m, now);
      }
    }
    long dt = now - lastTick;
    lastTick = now;
    long steps = newSteps();
    account(psWatch, steps, ps.running() && anyEstablished(Role.TRAINER, now), dt);
    long episodes = 0;
    for (Member m : members) {
      if (m.child == null) {
        continue;
      }
      List<String> fresh = m.child.linesFrom(m.linesSeen);
      m.linesSeen += fresh.size();
      for (String l : fresh) {
        if (!m.ready && (l.startsWith(m.role.command() + " ") || l.startsWith(m.role.command() + ":"))) {
          m.ready = true;
        }
        if (m == agent && l.startsWith("episode ")) {
          episodes++;
          m.ready = true;
        }
      }
    }
    account(agentWatch, episodes, agent.running() && anyEstablished(Role.OBSERVER, now), dt);
  }

  /** Steps appended to the round log since the last look (its header lines are not steps). */
  private long newSteps() throws IOException {
    if (!Files.exists(roundLog)) {
      return 0;
    }
    long size = Files.size(roundLog);
    if (size <= roundLogOffset) {
      return 0;
    }
    byte[] bytes;
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(roundLog)) {
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((int) Math.min(size - roundLogOffset, 1 << 24));
      ch.read(b, roundLogOffset);
      bytes = java.util.Arrays.copyOf(b.array(), b.position());
    }
    long steps = 0;
    int lineStart = 0;
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == '\n') {
        if (bytes[lineStart] != '#') {
          steps++;
        }
        lineStart = i + 1;
      }
    }
    roundLogOffset += lineStart;
    return steps;
  }

  /**
   * Whether a participant of {@code role} runs and is in the rounds (it printed its start line), or
   * has been trying to get there for longer than half the stall limit: a server's stall counts from
   * then, but not while its participants are still starting their JVMs.
   */
  private boolean anyEstablished(Role role, long now) {
    return members.stream().anyMatch(m -> m.role == role && m.running()
        && (m.ready || now - m.startedMs > s.stallS() * 500L));
  }

  private void account(Watch w, long progressed, boolean eligible, long dt) {
    if (progressed > 0) {
      w.progress += progressed;
      if (w.stalledMs >= REPORTED_STALL_MS) {
        out.printf(Locale.ROOT, "[bench chaos] %.1f s: the %s made progress again after a stall of %.1f s%n",
            secondsAt(lastTick), w.name, w.stalledMs / 1000.0);
      }
      w.stalledMs = 0;
      w.inHang = false;
      return;
    }
    if (!eligible) {
      return;
    }
    w.stalledMs += dt;
    w.longestStallMs = Math.max(w.longestStallMs, w.stalledMs);
    if (w.stalledMs > s.stallS() * 1000L && !w.inHang) {
      w.inHang = true;
      hang(w, "made no progress for " + s.stallS() + " s with live participants");
    }
  }

  private void hang(Watch w, String what) {
    String text = String.format(Locale.ROOT, "hang: the %s %s (at %.1f s; faults so far: %d, the last %s)", w.name,
        what, secondsAt(now()), faults.size(), faults.isEmpty() ? "none" : describe(faults.get(faults.size() - 1)));
    w.hangs.add(text);
    problems.add(text);
    out.println("[bench chaos] " + text);
  }

  // ---- processes ---------------------------------------------------------------------------------

  private void start(Member m, long now) throws IOException {
    m.incarnation++;
    m.endedByBench = false;
    m.stoppedSinceMs = -1;
    m.contAtMs = -1;
    m.restartAtMs = -1;
    m.linesSeen = 0;
    m.ready = false;
    m.heap.clear();
    m.startedMs = now;
    Path log = logs.resolve(m.id + "-" + m.incarnation + ".log");
    m.child = spawner.spawn(m.label(), m.role, s.javaOpts(), log, args(m));
    if (m == ps) {
      psWatch.incarnations++;
    } else if (m == agent) {
      agentWatch.incarnations++;
    }
  }

  private List<String> args(Member m) {
    String mt = Integer.toString(s.memberTimeoutS());
    List<String> a = new ArrayList<>(List.of("--member-timeout-s", mt, "--metrics-port", "-1"));
    switch (m.role) {
      case PS -> a.addAll(List.of("--trainers", Integer.toString(s.trainers()), "--model", "mlp", "--layers",
          s.layers(), "--lr", "0.05", "--device", "cpu", "--max-wait-ms", Integer.toString(s.maxWaitMs()),
          "--checkpoint-dir", checkpoints.toString(), "--checkpoint-every", "20", "--round-log", roundLog.toString()));
      case TRAINER -> a.addAll(List.of("--id", m.id, "--batches", Integer.toString(s.batches()), "--layers",
          s.layers(), "--progress-every", "0"));
      case AGENT -> a.addAll(List.of("--observers", Integer.toString(s.observers()), "--episodes",
          Integer.toString(s.episodes()), "--steps", Integer.toString(s.steps()), "--max-wait-ms",
          Integer.toString(s.maxWaitMs()), "--register-timeout-s", "120", "--device", "cpu"));
      case OBSERVER -> a.addAll(List.of("--index", Integer.toString(m.index)));
      default -> throw new IllegalStateException();
    }
    return a;
  }

  /** Judges the run of {@code m} that just ended and schedules the next one. */
  private void ended(Member m, long now, boolean restart) throws IOException {
    ChildJvm c = m.child;
    m.child = null;
    m.stoppedSinceMs = -1;
    m.contAtMs = -1;
    int code = c.ended().isDone() ? c.ended().join() : c.process().exitValue();
    List<String> lines = c.linesFrom(0);
    Outcome outcome;
    String detail;
    TrainerAudit.Claim claim = null;
    if (m.role == Role.TRAINER) {
      for (String l : lines) {
        TrainerAudit.Claim cl = TrainerAudit.parse(l, m.startedMs, now);
        if (cl != null) {
          claim = cl;
        }
      }
    }
    if (claim != null) {
      TrainerAudit.Verdict v = TrainerAudit.check(claim, s.batches(), RoundLog.read(roundLog));
      // exit 0, or the bench's SIGTERM caught it leaving after its summary
      outcome = v.ok() && (code == 0 || m.endedByBench) ? Outcome.VERIFIED : Outcome.FALSE_SUCCESS;
      detail = v.detail() + (code == 0 ? "" : "; exit code " + code + (m.endedByBench ? " (ended by the bench)" : ""));
    } else if (m.endedByBench) {
      outcome = Outcome.ENDED_BY_BENCH;
      detail = code > 128 ? "signal " + (code - 128) : "exit code " + code;
    } else if (code == 0) {
      boolean agentDone = m.role == Role.AGENT && lines.stream().anyMatch(l -> l.startsWith("done: "));
      outcome = agentDone ? Outcome.FINISHED : m.role == Role.TRAINER ? Outcome.FALSE_SUCCESS : Outcome.FAILED_SILENTLY;
      detail = agentDone ? lines.stream().filter(l -> l.startsWith("done: ")).findFirst().orElse("")
          : "exited 0 by itself without a summary";
    } else {
      String reason = reason(lines);
      outcome = reason == null ? Outcome.FAILED_SILENTLY : Outcome.FAILED_LOUDLY;
      detail = "exit code " + code + ": " + (reason == null ? "no reason given; last lines " + c.tail(3) : reason);
    }
    runs.add(new RunRecord(m.label(), m.role, c.pid(), secondsAt(m.startedMs), secondsAt(now), code, outcome, detail));
    if (outcome == Outcome.FALSE_SUCCESS || outcome == Outcome.FAILED_SILENTLY) {
      String text = outcome.name().toLowerCase(Locale.ROOT).replace('_', ' ') + ": " + m.label() + " (log "
          + c.log() + "): " + detail;
      problems.add(text);
      out.println("[bench chaos] " + text);
    } else if (outcome == Outcome.FAILED_LOUDLY) {
      out.printf(Locale.ROOT, "[bench chaos] %.1f s: %s failed loudly, restarted: %s%n", secondsAt(now), m.label(),
          detail);
    }
    if (!m.heap.isEmpty()) {
      heap.add(series(m));
    }
    if (restart && m.restartAtMs < 0) {
      // a finished run starts again at once; a failed one after a second
      m.restartAtMs = outcome == Outcome.FAILED_LOUDLY || outcome == Outcome.FAILED_SILENTLY ? now + 1000 : now;
    }
  }

  /** The reason a failed process gave: its last error line, or null. */
  static String reason(List<String> lines) {
    for (int i = lines.size() - 1; i >= 0; i--) {
      String l = lines.get(i);
      if (l.startsWith("batch-rpc ") || l.contains("Terminating due to java.lang.OutOfMemoryError")) {
        return l;
      }
    }
    return null;
  }

  // ---- faults ------------------------------------------------------------------------------------

  private void inject(long now) throws IOException, InterruptedException {
    Fault f = plan.nextFault();
    List<Member> eligible = members.stream()
        .filter(m -> m.role == f.role() && m.running() && m.restartAtMs < 0).toList();
    if (eligible.isEmpty()) {
      out.printf(Locale.ROOT, "[bench chaos] %.1f s: %s postponed: no %s is running%n", secondsAt(now), f.cliName(),
          f.role().command());
      plan.putBack(f);
      return;
    }
    Member m = eligible.get(plan.pick(eligible.size()));
    long pid = m.child.pid();
    double seconds;
    if (f.kill()) {
      seconds = plan.restartDelayS();
      m.endedByBench = true;
      m.restartAtMs = now + (long) (seconds * 1000);
      m.child.process().destroyForcibly();
    } else {
      seconds = plan.stopS();
      signal(pid, "STOP");
      m.stoppedSinceMs = now;
      m.contAtMs = now + (long) (seconds * 1000);
    }
    FaultRecord r = new FaultRecord(secondsAt(now), f, m.label(), pid, seconds);
    faults.add(r);
    out.println("[bench chaos] " + describe(r));
  }

  private static String describe(FaultRecord r) {
    return String.format(Locale.ROOT, "%.1f s: %s of %s (pid %d), %s %.1f s", r.atS(), r.fault().cliName(),
        r.target(), r.pid(), r.fault().kill() ? "restart after" : "SIGCONT after", r.seconds());
  }

  private void cont(Member m) {
    if (m.child != null) {
      try {
        signal(m.child.pid(), "CONT");
      } catch (IOException | InterruptedException e) {
        throw new IllegalStateException("cannot SIGCONT " + m.label() + ": " + e, e);
      }
    }
    m.stoppedSinceMs = -1;
    m.contAtMs = -1;
  }

  private static void signal(long pid, String signal) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).redirectErrorStream(true).start();
    if (!p.waitFor(10, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("kill -" + signal + " " + pid + " did not return");
    }
  }

  // ---- heap --------------------------------------------------------------------------------------

  /** Samples the next running ps, agent or observer (in turn) that has lived at least 5 s. */
  private void sampleHeap(long now) throws IOException, InterruptedException {
    List<Member> candidates = members.stream().filter(m -> m.role != Role.TRAINER).toList();
    for (int i = 0; i < candidates.size(); i++) {
      Member m = candidates.get((heapTurn + i) % candidates.size());
      if (m.running() && now - m.startedMs >= 5000) {
        heapTurn = (heapTurn + i + 1) % candidates.size();
        Double mb = heapAfterGcMb(m.child.pid());
        if (mb != null && m.running()) {
          m.heap.add(new double[] {(now() - m.startedMs) / 1000.0, mb});
        }
        return;
      }
    }
  }

  /** {@code jcmd PID GC.run}, then {@code GC.heap_info}: the heap's used size in MB, or null. */
  private Double heapAfterGcMb(long pid) throws IOException, InterruptedException {
    if (run(List.of(jcmd.toString(), Long.toString(pid), "GC.run")) == null) {
      return null;
    }
    String info = run(List.of(jcmd.toString(), Long.toString(pid), "GC.heap_info"));
    return info == null ? null : parseHeapUsedMb(info);
  }

  /** The heap's used MB from {@code jcmd GC.heap_info}'s output (young + old, or the one G1 heap). */
  static Double parseHeapUsedMb(String info) {
    long kb = 0;
    boolean found = false;
    for (String line : info.split("\n")) {
      Matcher mm = HEAP_USED.matcher(line);
      if (mm.find()) {
        kb += Long.parseLong(mm.group(2));
        found = true;
      }
    }
    return found ? kb / 1024.0 : null;
  }

  private static String run(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    byte[] bytes = p.getInputStream().readAllBytes();
    if (!p.waitFor(20, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return null;
    }
    return p.exitValue() == 0 ? new String(bytes, StandardCharsets.UTF_8) : null;
  }

  private HeapSeries series(Member m) {
    List<double[]> samples = List.copyOf(m.heap);
    List<double[]> late = samples.stream().filter(x -> x[0] >= s.heapWarmupS()).toList();
    boolean judged = late.size() >= MIN_SAMPLES && late.get(late.size() - 1)[0] - late.get(0)[0] >= MIN_SPAN_S;
    double slope = late.size() >= 2 ? dev.batchrpc.suite.bench.soak.HeapSampler.slopeMbPerMin(
        late.stream().mapToDouble(x -> x[0]).toArray(), late.stream().mapToDouble(x -> x[1]).toArray()) : Double.NaN;
    return new HeapSeries(m.label(), m.role, samples, slope, late.size(), judged);
  }

  /** The pooled within-run heap slope of {@code role}'s runs (samples at or after {@code warmupS}). */
  static RoleHeap pooled(Role role, List<HeapSeries> all, double warmupS) {
    double num = 0;
    double den = 0;
    int runs = 0;
    int samples = 0;
    double span = 0;
    for (HeapSeries h : all) {
      if (h.role() != role) {
        continue;
      }
      List<double[]> late = h.samples().stream().filter(x -> x[0] >= warmupS).toList();
      if (late.size() < 2) {
        continue;
      }
      runs++;
      samples += late.size();
      span += late.get(late.size() - 1)[0] - late.get(0)[0];
      double mt = late.stream().mapToDouble(x -> x[0]).average().orElse(0);
      double mh = late.stream().mapToDouble(x -> x[1]).average().orElse(0);
      for (double[] x : late) {
        num += (x[0] - mt) * (x[1] - mh);
        den += (x[0] - mt) * (x[0] - mt);
      }
    }
    double slope = den == 0 ? Double.NaN : num / den * 60;
    return new RoleHeap(role, runs, samples, span, slope, samples >= MIN_SAMPLES && span >= MIN_SPAN_S);
  }

  // ---- report ------------------------------------------------------------------------------------

  private void progressLine(long now, long faultsFrom) {
    out.printf(Locale.ROOT, "[bench chaos] %.0f/%d s: %d faults; ps %d steps (%d runs, longest stall %.1f s); agent %d "
            + "episodes (%d runs, longest stall %.1f s); trainer runs verified %d; loud failures %d; problems %d%n",
        (now - faultsFrom) / 1000.0, s.durationS(), faults.size(), psWatch.progress, psWatch.incarnations,
        psWatch.longestStallMs / 1000.0, agentWatch.progress, agentWatch.incarnations,
        agentWatch.longestStallMs / 1000.0, runs.stream().filter(r -> r.outcome() == Outcome.VERIFIED).count(),
        runs.stream().filter(r -> r.outcome() == Outcome.FAILED_LOUDLY).count(), problems.size());
  }

  private Report report() throws IOException {
    if (faults.isEmpty() && problems.isEmpty()) {
      problems.add("no fault was injected (--duration-s too short for --fault-every-s?)");
    }
    boolean flat = true;
    for (HeapSeries h : heap) {
      if (h.judged() && !(h.slopeMbPerMin() < s.maxSlopeMbPerMin())) {
        flat = false;
        problems.add(String.format(Locale.ROOT, "growing heap: %s, %+.2f MB/min over %d samples (bound %.2f)",
            h.label(), h.slopeMbPerMin(), h.slopeSamples(), s.maxSlopeMbPerMin()));
      }
    }
    List<RoleHeap> byRole = new ArrayList<>();
    for (Role role : Role.values()) {
      RoleHeap rh = pooled(role, heap, s.heapWarmupS());
      if (rh.runs() == 0) {
        continue;
      }
      byRole.add(rh);
      if (rh.judged() && !(rh.slopeMbPerMin() < s.maxSlopeMbPerMin())) {
        flat = false;
        problems.add(String.format(Locale.ROOT, "growing heap: every %s run, %+.2f MB/min within runs over %d samples "
            + "(bound %.2f)", role.command(), rh.slopeMbPerMin(), rh.samples(), s.maxSlopeMbPerMin()));
      }
    }
    Report r = new Report(s, secondsAt(now()), List.copyOf(faults), List.copyOf(runs), psWatch.stats(),
        agentWatch.stats(), List.copyOf(problems), List.copyOf(heap), List.copyOf(byRole), flat, dir);
    writeCsv(r);
    print(r);
    return r;
  }

  private void print(Report r) {
    Map<String, Long> byKind = new LinkedHashMap<>();
    r.faultCounts().forEach((k, v) -> byKind.put(k.cliName(), v));
    out.printf(Locale.ROOT, "[bench chaos] faults: %d in %d s %s%n", r.faults().size(), s.durationS(), byKind);
    for (ServiceStats st : List.of(r.ps(), r.agent())) {
      out.printf(Locale.ROOT, "[bench chaos] %s: %d %s over %d process runs; longest stall with live participants "
              + "%.1f s (limit %d s); hangs %d%n", st.name(), st.progress(), st.name().equals("ps") ? "steps" : "episodes",
          st.incarnations(), st.longestStallS(), s.stallS(), st.hangs().size());
    }
    for (Role role : Role.values()) {
      Map<Outcome, Long> m = new EnumMap<>(Outcome.class);
      r.runs().stream().filter(x -> x.role() == role).forEach(x -> m.merge(x.outcome(), 1L, Long::sum));
      out.printf(Locale.ROOT, "[bench chaos] %s runs: %s%n", role.command(), m);
    }
    r.runs().stream().filter(x -> x.outcome() == Outcome.FAILED_LOUDLY).collect(Collectors.groupingBy(
            x -> x.role().command() + ": " + x.detail().replaceAll("\\d+", "N"), LinkedHashMap::new, Collectors.counting()))
        .forEach((k, v) -> out.printf(Locale.ROOT, "[bench chaos]   loud failure x%d  %s%n", v, k));
    for (HeapSeries h : r.heap()) {
      if (h.judged()) {
        double[] first = h.samples().get(0);
        double[] last = h.samples().get(h.samples().size() - 1);
        out.printf(Locale.ROOT, "[bench chaos] heap after full GC: %s lived %.0f s: %.1f MB at %.0f s -> %.1f MB at %.0f s, "
                + "slope %+.3f MB/min over %d samples after %d s%n", h.label(), last[0], first[1], first[0], last[1],
            last[0], h.slopeMbPerMin(), h.slopeSamples(), s.heapWarmupS());
      }
    }
    for (RoleHeap rh : r.heapByRole()) {
      out.printf(Locale.ROOT, "[bench chaos] heap after full GC, every %s run: slope %+.3f MB/min within runs (%d runs, "
              + "%d samples after %d s, %.0f s in all)%s%n", rh.role().command(), rh.slopeMbPerMin(), rh.runs(),
          rh.samples(), s.heapWarmupS(), rh.spanS(), rh.judged() ? "" : " - too few to judge");
    }
    long judged = r.heap().stream().filter(HeapSeries::judged).count()
        + r.heapByRole().stream().filter(RoleHeap::judged).count();
    out.printf(Locale.ROOT, "[bench chaos] heap: %s (%d slope(s) judged, bound %.2f MB/min)%n",
        r.heapFlat() ? "flat" : "GROWING", judged, s.maxSlopeMbPerMin());
    out.printf(Locale.ROOT, "[bench chaos] verdict: %s%s%n", r.passed() ? "PASS" : "FAIL",
        r.passed() ? " (no hang, no false success, no silent failure, no growing heap)"
            : ": " + String.join("; ", r.problems()));
    out.println("[bench chaos] logs, round log, checkpoints and CSV in " + r.dir());
  }

  private void writeCsv(Report r) throws IOException {
    List<String> f = new ArrayList<>(List.of("at_s,fault,target,pid,seconds"));
    r.faults().forEach(x -> f.add(String.format(Locale.ROOT, "%.3f,%s,%s,%d,%.3f", x.atS(), x.fault().cliName(),
        x.target(), x.pid(), x.seconds())));
    Files.write(r.dir().resolve("faults.csv"), f);
    List<String> ru = new ArrayList<>(List.of("run,role,pid,start_s,end_s,exit_code,outcome,detail"));
    r.runs().forEach(x -> ru.add(String.format(Locale.ROOT, "%s,%s,%d,%.3f,%.3f,%d,%s,\"%s\"", x.label(), x.role().command(),
        x.pid(), x.startS(), x.endS(), x.exitCode(), x.outcome(), x.detail().replace("\"", "'"))));
    Files.write(r.dir().resolve("runs.csv"), ru);
    List<String> h = new ArrayList<>(List.of("run,age_s,heap_mb_after_gc"));
    r.heap().forEach(x -> x.samples().forEach(p -> h.add(String.format(Locale.ROOT, "%s,%.1f,%.3f", x.label(), p[0], p[1]))));
    Files.write(r.dir().resolve("heap.csv"), h);
  }

  private long now() {
    return System.currentTimeMillis();
  }

  private double secondsAt(long ms) {
    return (ms - t0) / 1000.0;
  }
}
