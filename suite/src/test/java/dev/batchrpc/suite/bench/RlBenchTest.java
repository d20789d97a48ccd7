package dev.batchrpc.suite.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.agent.LatencyLog;
import dev.batchrpc.suite.bench.rl.RlPlot;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code bench rl}'s option parsing and its figure (no run: that is the benchmark itself). */
class RlBenchTest {

  @Test
  void worldSizesAreARangeOrAListSortedAndDistinct() {
    assertThat(WorldSizes.parse("2-11")).containsExactly(2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    assertThat(WorldSizes.parse("11,2,6")).containsExactly(2, 6, 11);
    assertThat(WorldSizes.parse(" 2 , 6 ,6, 2-3 ")).containsExactly(2, 3, 6);
    assertThat(WorldSizes.parse("5")).containsExactly(5);
  }

  @Test
  void badWorldSizesAreRefusedNamingTheFlag() {
    for (String bad : List.of("1", "1-3", "0,2", "x", "2-", "6-2", "", "2,,3")) {
      assertThatThrownBy(() -> WorldSizes.parse(bad)).as("'%s'", bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("--world-sizes");
    }
  }

  @Test
  void theCommandRefusesBadOptionsBeforeRunningAnything() {
    for (String[] args : List.of(new String[] {"--world-sizes", "1"}, new String[] {"--modes", "fast"},
        new String[] {"--deployments", "cloud"}, new String[] {"--episodes", "0"},
        new String[] {"--warmup-episodes", "-1"}, new String[] {"--event-loops", "-2"},
        new String[] {"--repeats", "0"}, new String[] {"--spin-us", "-5"}, new String[] {"--spin-us", "20000"})) {
      CommandLine cl = new CommandLine(new RlBench());
      cl.setErr(new java.io.PrintWriter(new java.io.StringWriter()));
      assertThat(cl.execute(args)).as(String.join(" ", args)).isEqualTo(2);
    }
  }

  @Test
  void defaultsAreTheTutorialsRun() {
    RlBench b = new RlBench();
    new CommandLine(b).parseArgs();
    assertThat(WorldSizes.parse(b.worldSizes)).containsExactly(2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    assertThat(b.episodes).isEqualTo(10);
    assertThat(b.steps).isEqualTo(500);
    assertThat(b.modes).containsExactly("batch", "nobatch");
    assertThat(b.deployments).containsExactly("inproc", "procs");
    assertThat(b.repeats).isEqualTo(4);
  }

  @Test
  void aRunPollsByDefaultAndLeavesNoSettingBehindInItsJvm(@TempDir Path dir) {
    RlBench defaults = new RlBench();
    new CommandLine(defaults).parseArgs();
    assertThat(defaults.spinUs).isEqualTo(300);
    String spin = System.getProperty(dev.batchrpc.runtime.node.Nodes.SPIN_US_PROPERTY);
    String loops = System.getProperty(dev.batchrpc.runtime.node.Nodes.EVENT_LOOPS_PROPERTY);
    CommandLine cl = new CommandLine(new RlBench());
    PrintStream stdout = System.out;
    System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    int code;
    try {
      code = cl.execute("--deployments", "inproc", "--world-sizes", "3", "--episodes", "1", "--steps", "20",
          "--warmup-episodes", "0", "--repeats", "1", "--out", dir.toString());
    } finally {
      System.setOut(stdout);
    }
    assertThat(code).isZero();
    assertThat(dir.resolve("rl.csv")).exists();
    // The bench's nodes polled and ran on one loop; the JVM's later nodes get what it had before.
    assertThat(System.getProperty(dev.batchrpc.runtime.node.Nodes.SPIN_US_PROPERTY)).isEqualTo(spin);
    assertThat(System.getProperty(dev.batchrpc.runtime.node.Nodes.EVENT_LOOPS_PROPERTY)).isEqualTo(loops);
  }

  @Test
  void anObserverOptionOverridesTheBenchsSettingForTheObserversAlone() {
    RlBench b = new RlBench();
    new CommandLine(b).parseArgs("--spin-us", "300", "--observer-java-opts", "-Xmx128m -Dbatchrpc.spin-us=0");
    List<String> opts = b.observerJvmOptions();
    // The JVM keeps the last -D of a property: the observer's own comes after the bench's.
    assertThat(opts).containsSubsequence("-Dbatchrpc.spin-us=300", "-Dbatchrpc.spin-us=0");
    assertThat(opts).contains("-Xmx128m", "-Dbatchrpc.event-loops=1");

    RlBench defaults = new RlBench();
    new CommandLine(defaults).parseArgs("--spin-us", "0");
    assertThat(defaults.observerJvmOptions()).noneMatch(o -> o.startsWith("-Dbatchrpc.spin-us"))
        .contains("-XX:+UseSerialGC");
  }

  @Test
  void repeatedRunsAlternateTheModesOrder() {
    List<dev.batchrpc.agent.AgentMode> ms = List.of(dev.batchrpc.agent.AgentMode.BATCH,
        dev.batchrpc.agent.AgentMode.NOBATCH);
    List<dev.batchrpc.agent.AgentMode> runs = new java.util.ArrayList<>();
    for (int run = 0; run < 4; run++) {
      runs.addAll(RlBench.order(ms, run));
    }
    assertThat(runs).containsExactly(ms.get(0), ms.get(1), ms.get(1), ms.get(0), ms.get(0), ms.get(1), ms.get(1),
        ms.get(0));
  }

  @Test
  void theTablesGiveTheMedianRunAndTwoRunsTheirMean(@TempDir Path dir) throws Exception {
    // batch: two runs (ABBA), 0.4 s and 0.8 s -> 0.6; non-batch: three runs -> the middle one, 1.0
    List<RlBenchReport.Result> results = List.of(result(3, "batch", 0.4, 1_000), result(3, "nobatch", 1.0, 1_000),
        result(3, "nobatch", 3.0, 1_000), result(3, "batch", 0.8, 1_000), result(3, "nobatch", 0.9, 1_000));
    RlBenchReport report = new RlBenchReport(dir.toFile(), 1, 500, List.of("inproc"), Map.of("inproc", 2), Map.of(),
        "", "cpu");
    assertThat(printed(report, results, List.of(3))).containsPattern("(?m)^3, 0\\.600, 1\\.000, ");
    assertThat(Files.readAllLines(dir.resolve("rl.csv"))).hasSize(6);
  }

  @Test
  void theReportGivesActionsPerSecondPerRunAndBatchsRatioOverNonBatch(@TempDir Path dir) throws Exception {
    // 10 observers x 500 steps x 1 episode = 5,000 actions: batch in 0.5 s, non-batch in 2 s;
    // a scale point of 10,000 observers x 50 steps = 500,000 actions in 0.4 s, batch only
    List<RlBenchReport.Result> results = List.of(
        result(11, "batch", 0.5, 5_000), result(11, "nobatch", 2.0, 5_000), result(10_001, "batch", 0.4, 500_000));
    RlBenchReport report = new RlBenchReport(dir.toFile(), 1, 500, List.of("inproc"), Map.of("inproc", 1), Map.of(),
        "", "cpu");
    String out = printed(report, results, List.of(11, 10_001));
    assertThat(out).contains("startup_s, batch_actions_per_s, nobatch_actions_per_s, x_batch")
        .containsPattern("(?m)^11, 0\\.500, 2\\.000, .*, 10000, 2500, 4\\.00, 4\\.00-4\\.00 \\(batch ahead in 1 of 1\\)$")
        .containsPattern("(?m)^10001, 0\\.400, NaN, .*, 1250000, NaN, NaN, -$");
    List<String> csv = Files.readAllLines(dir.resolve("rl.csv"));
    List<String> header = List.of(csv.get(0).split(","));
    int col = header.indexOf("actions_per_s");
    assertThat(col).isPositive();
    assertThat(csv).hasSize(4);
    assertThat(csv.subList(1, 4).stream().map(l -> l.split(",")[col]).toList())
        .containsExactly("10000", "2500", "1250000");
  }

  @Test
  void theTablesGiveTheSpreadOfBatchsRatioOverPairsOfNeighbouringRuns(@TempDir Path dir) throws Exception {
    // ABBA over two seeds: seed 1 pairs (1.0 vs 0.8 s: 0.80) and (0.5 vs 1.0 s: 2.00); seed 2 pairs
    // (1.0 vs 1.1 s: 1.10); seed 2's third non-batch run has no batch run beside it
    List<RlBenchReport.Result> results = List.of(
        result(5, "batch", 1, 1.0, 1_000), result(5, "nobatch", 1, 0.8, 1_000), result(5, "nobatch", 1, 1.0, 1_000),
        result(5, "batch", 1, 0.5, 1_000), result(5, "batch", 2, 1.0, 1_000), result(5, "nobatch", 2, 1.1, 1_000),
        result(5, "nobatch", 2, 3.0, 1_000));
    RlBenchReport report = new RlBenchReport(dir.toFile(), 1, 500, List.of("inproc"), Map.of("inproc", 3), Map.of(),
        "", "cpu");
    assertThat(printed(report, results, List.of(5)))
        .containsPattern("(?m)^5, .*, 0\\.80-2\\.00 \\(batch ahead in 2 of 3\\)$");
  }

  /** What the report prints while it writes its files. */
  private static String printed(RlBenchReport report, List<RlBenchReport.Result> results, List<Integer> sizes)
      throws Exception {
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    PrintStream stdout = System.out;
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      report.write(results, sizes);
    } finally {
      System.setOut(stdout);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }

  private static RlBenchReport.Result result(int ws, String mode, double loopSeconds, int actions) {
    return result(ws, mode, 543, loopSeconds, actions);
  }

  private static RlBenchReport.Result result(int ws, String mode, long seed, double loopSeconds, int actions) {
    return new RlBenchReport.Result("inproc", ws, mode, seed, loopSeconds, loopSeconds + 0.1, 0.05,
        new LatencyLog.Summary(actions, 10, 20, 30, 40), new double[] {12.5});
  }

  @Test
  void thePlotIsAValidPngOfTheFiguresSize(@TempDir Path dir) throws Exception {
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    series.put("inproc batch", List.of(new double[] {2, 0.4}, new double[] {6, 0.5}, new double[] {11, 0.7}));
    series.put("inproc nobatch", List.of(new double[] {2, 0.35}, new double[] {6, 0.6}, new double[] {11, 0.9}));
    series.put("procs batch", List.of(new double[] {2, 3.1}, new double[] {11, 12.0}));
    File png = dir.resolve("rl.png").toFile();
    RlPlot.write(png, "test", series);
    byte[] head = Files.readAllBytes(png.toPath());
    assertThat(head).startsWith(0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n');
    BufferedImage img = ImageIO.read(png);
    assertThat(img.getWidth()).isEqualTo(900);
    assertThat(img.getHeight()).isEqualTo(600);
    // Something was drawn: not a blank white canvas.
    int white = 0xFFFFFFFF;
    boolean drawn = false;
    for (int x = 0; x < img.getWidth() && !drawn; x += 3) {
      for (int y = 0; y < img.getHeight() && !drawn; y += 3) {
        drawn = img.getRGB(x, y) != white;
      }
    }
    assertThat(drawn).isTrue();
  }

  @Test
  void aFigureOfNoPositiveTimeIsStillAnEmptyFigure(@TempDir Path dir) throws Exception {
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    series.put("inproc batch", List.of(new double[] {2, 0}));
    File png = dir.resolve("out").resolve("rl.png").toFile();
    RlPlot.write(png, "nothing measured", series);
    BufferedImage img = ImageIO.read(png);
    assertThat(img.getWidth()).isEqualTo(900);
    assertThat(img.getHeight()).isEqualTo(600);
  }
}
