package dev.batchrpc.suite.bench.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.ps.RoundLog;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The parts of {@code bench chaos} that decide: the fault plan, the audit of claims, the parsers. */
class ChaosPartsTest {

  @Test
  void theSameSeedGivesTheSamePlanAndEveryDeckHoldsEveryFaultByItsWeight() {
    FaultPlan a = new FaultPlan(7, List.of(Fault.values()), 10, 6);
    FaultPlan b = new FaultPlan(7, List.of(Fault.values()), 10, 6);
    int deck = List.of(Fault.values()).stream().mapToInt(Fault::weight).sum();
    assertThat(deck).isEqualTo(12);
    List<Fault> drawn = new ArrayList<>();
    for (int d = 0; d < 3; d++) {
      Map<Fault, Integer> counts = new EnumMap<>(Fault.class);
      for (int i = 0; i < deck; i++) {
        Fault f = a.nextFault();
        assertThat(b.nextFault()).isEqualTo(f);
        counts.merge(f, 1, Integer::sum);
        drawn.add(f);
        double gap = a.nextGapS();
        assertThat(b.nextGapS()).isEqualTo(gap);
        assertThat(gap).isBetween(5.0, 15.0);
        double stop = a.stopS();
        assertThat(b.stopS()).isEqualTo(stop);
        assertThat(stop).isBetween(1.0, 6.0);
        assertThat(a.restartDelayS()).isEqualTo(b.restartDelayS()).isBetween(0.5, 3.0);
      }
      for (Fault f : Fault.values()) {
        assertThat(counts.get(f)).as(f.cliName()).isEqualTo(f.weight());
      }
    }
    // the decks are shuffled, not dealt in a fixed order
    assertThat(drawn.subList(0, deck)).isNotEqualTo(drawn.subList(deck, 2 * deck));
    assertThat(new FaultPlan(8, List.of(Fault.values()), 10, 6).nextFault()).isNotNull();
  }

  @Test
  void faultListsParseByCliNameAndAnUnknownOneIsNamed() {
    assertThat(Fault.parseList("all")).containsExactly(Fault.values());
    assertThat(Fault.parseList(" kill-ps, stop-agent ,kill-ps")).containsExactly(Fault.KILL_PS, Fault.STOP_AGENT);
    assertThatThrownBy(() -> Fault.parseList("kill-ps,pause-ps"))
        .hasMessageContaining("--faults: unknown fault 'pause-ps'").hasMessageContaining("stop-ps");
    assertThatThrownBy(() -> new FaultPlan(1, List.of(), 1, 1)).isInstanceOf(IllegalArgumentException.class);
  }

  private static RoundLog.Entry step(long version, long ms, String... ids) {
    return new RoundLog.Entry(version, ms, List.of(ids));
  }

  @Test
  void aTrainersClaimIsBackedOnlyByStepsWithItsGradientWhileItRan() {
    String done = "trainer t1: done: 3 rounds, loss 0.1234, model v12, 41.0 rounds/s (per round: compute 1.00 ms, "
        + "update-and-fetch 2.00 ms, load 0.10 ms)";
    TrainerAudit.Claim claim = TrainerAudit.parse(done, 1000, 2000);
    assertThat(claim).isEqualTo(new TrainerAudit.Claim("t1", 3, 12, 1000, 2000));
    assertThat(TrainerAudit.parse("trainer t1: round 3/3 model v12", 0, 1)).isNull();

    List<RoundLog.Entry> honest = List.of(step(9, 900, "t1", "t2"), step(10, 1100, "t1", "t2"),
        step(11, 1200, "t1"), step(12, 1300, "t2", "t1"), step(13, 2100, "t1"));
    TrainerAudit.Verdict ok = TrainerAudit.check(claim, 3, honest);
    assertThat(ok.ok()).isTrue();
    assertThat(ok.stepsWithIt()).isEqualTo(3);
    assertThat(ok.finalVersionLogged()).isTrue();

    // one of its steps is missing: it claims a round the server never stepped with its gradient
    List<RoundLog.Entry> short1 = List.of(step(10, 1100, "t1", "t2"), step(11, 1200, "t2"), step(12, 1300, "t1"));
    assertThat(TrainerAudit.check(claim, 3, short1).ok()).isFalse();
    assertThat(TrainerAudit.check(claim, 3, short1).detail()).contains("its gradient in 2 step(s)");
    // enough steps, but none made the version it reports
    List<RoundLog.Entry> wrongVersion = List.of(step(10, 1100, "t1"), step(11, 1200, "t1"), step(13, 1300, "t1"));
    assertThat(TrainerAudit.check(claim, 3, wrongVersion).finalVersionLogged()).isFalse();
    assertThat(TrainerAudit.check(claim, 3, wrongVersion).ok()).isFalse();
    // it says done after fewer rounds than it was started for
    assertThat(TrainerAudit.check(claim, 4, honest).ok()).isFalse();
    // steps before its start or after its exit are another run's
    List<RoundLog.Entry> outside = List.of(step(10, 999, "t1"), step(11, 1200, "t1"), step(12, 2001, "t1"));
    assertThat(TrainerAudit.check(claim, 3, outside).stepsWithIt()).isEqualTo(1);
  }

  @Test
  void heapInfoOfEachCollectorParses() {
    String serial = """
        1234:
         def new generation   total 9792K, used 2048K [0x00000000f0000000, 0x00000000f0aa0000, 0x00000000f5550000)
          eden space 8704K,  23% used [0x00000000f0000000, 0x00000000f0200000, 0x00000000f0880000)
         tenured generation   total 21888K, used 10240K [0x00000000f5550000, 0x00000000f6ab0000, 0x0000000100000000)
         Metaspace       used 51234K, committed 51712K, reserved 1114112K
          class space    used 6789K, committed 7040K, reserved 1048576K
        """;
    assertThat(ChaosRun.parseHeapUsedMb(serial)).isEqualTo(12.0);
    String g1 = """
         garbage-first heap   total 262144K, used 15360K [0x00000000f0000000, 0x0000000100000000)
          region size 1024K, 1 young (1024K), 0 survivors (0K)
         Metaspace       used 40000K, committed 40448K, reserved 1089536K
        """;
    assertThat(ChaosRun.parseHeapUsedMb(g1)).isEqualTo(15.0);
    assertThat(ChaosRun.parseHeapUsedMb("1234:\nAttachNotSupportedException")).isNull();
  }

  private static ChaosRun.HeapSeries run(Role role, double mbAt0, double mbPerMin, double fromS, double toS) {
    List<double[]> samples = new ArrayList<>();
    for (double t = fromS; t <= toS; t += 10) {
      samples.add(new double[] {t, mbAt0 + mbPerMin * t / 60});
    }
    return new ChaosRun.HeapSeries(role + "", role, samples, Double.NaN, samples.size(), false);
  }

  @Test
  void theHeapSlopeIsPooledWithinRunsSoARestartsFreshHeapIsNoTrend() {
    // two flat runs at different levels, the second later: no slope (a slope across them would be -12 MB/min)
    List<ChaosRun.HeapSeries> flat = List.of(run(Role.PS, 30, 0, 0, 100), run(Role.PS, 10, 0, 0, 100));
    ChaosRun.RoleHeap f = ChaosRun.pooled(Role.PS, flat, 30);
    assertThat(f.slopeMbPerMin()).isCloseTo(0, org.assertj.core.api.Assertions.within(1e-9));
    assertThat(f.runs()).isEqualTo(2);
    assertThat(f.samples()).isEqualTo(16);
    assertThat(f.spanS()).isEqualTo(140);
    assertThat(f.judged()).isTrue();
    // runs that each grow 2 MB/min, whatever their level, and samples in the warm-up left out
    List<ChaosRun.HeapSeries> growing = List.of(run(Role.AGENT, 50, 2, 0, 90), run(Role.AGENT, 12, 2, 0, 60),
        run(Role.PS, 5, 100, 0, 100));
    ChaosRun.RoleHeap g = ChaosRun.pooled(Role.AGENT, growing, 30);
    assertThat(g.slopeMbPerMin()).isCloseTo(2, org.assertj.core.api.Assertions.within(1e-9));
    assertThat(g.samples()).isEqualTo(7 + 4);
    // too little to judge
    assertThat(ChaosRun.pooled(Role.AGENT, List.of(run(Role.AGENT, 1, 5, 0, 60)), 30).judged()).isFalse();
    assertThat(ChaosRun.pooled(Role.OBSERVER, growing, 30).runs()).isZero();
  }

  @Test
  void aFailuresReasonIsItsLastErrorLine() {
    assertThat(ChaosRun.reason(List.of("trainer t0: round 1", "batch-rpc trainer: the parameter server refused "
        + "trainer 't0': DUPLICATE", "bye"))).startsWith("batch-rpc trainer: the parameter server refused");
    assertThat(ChaosRun.reason(List.of("Terminating due to java.lang.OutOfMemoryError: Java heap space")))
        .contains("OutOfMemoryError");
    assertThat(ChaosRun.reason(List.of("Exception in thread main", "\tat x.y"))).isNull();
  }
}
