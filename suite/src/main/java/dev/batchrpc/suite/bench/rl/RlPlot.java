package dev.batchrpc.suite.bench.rl;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.DoubleSummaryStatistics;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws the tutorial's figure (world size against time) with XChart, headless: one line per
 * (deployment, mode), non-batch dashed, on a log-scale time axis of whole decades (one-process and
 * multi-process times differ by orders of magnitude), with a legend.
 */
public final class RlPlot {

  private static final Color[] COLORS = {
      new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44), new Color(214, 39, 40)};
  private static final BasicStroke DASHED = new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
      new float[] {8f, 5f}, 0f);

  private RlPlot() {
  }

  /**
   * Writes the PNG, 900 x 600.
   *
   * @param series label to points {world size, seconds}, in legend order; points of no positive
   *     time are left out (the axis is logarithmic)
   */
  public static void write(File file, String title, Map<String, List<double[]>> series) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(900).height(600).title(title)
        .xAxisTitle("world size (agent + observers)").yAxisTitle("episode loop time (s, log scale)").build();
    chart.getStyler().setYAxisLogarithmic(true).setYAxisDecimalPattern("0.###").setXAxisDecimalPattern("0.#")
        .setLegendPosition(LegendPosition.InsideNW).setChartBackgroundColor(Color.WHITE).setSeriesColors(COLORS);
    // whole decades, so that the axis is labelled at its powers of ten
    DoubleSummaryStatistics times = series.values().stream().flatMap(List::stream).mapToDouble(p -> p[1])
        .filter(t -> t > 0).summaryStatistics();
    if (times.getCount() > 0) {
      double low = Math.floor(Math.log10(times.getMin()));
      double high = Math.max(low + 1, Math.ceil(Math.log10(times.getMax())));
      chart.getStyler().setYAxisMin(Math.pow(10, low)).setYAxisMax(Math.pow(10, high));
    }
    for (Map.Entry<String, List<double[]>> s : series.entrySet()) {
      List<double[]> points = s.getValue().stream().filter(p -> p[1] > 0).toList();
      if (points.isEmpty()) {
        continue;
      }
      XYSeries line = chart.addSeries(s.getKey(), points.stream().mapToDouble(p -> p[0]).toArray(),
          points.stream().mapToDouble(p -> p[1]).toArray());
      line.setMarker(SeriesMarkers.CIRCLE);
      if (s.getKey().contains("nobatch")) {
        line.setLineStyle(DASHED);
      }
    }
    File parent = file.getAbsoluteFile().getParentFile();
    if (parent != null) {
      parent.mkdirs();
    }
    try (OutputStream out = Files.newOutputStream(file.toPath())) {
      BitmapEncoder.saveBitmap(chart, out, BitmapFormat.PNG);
    }
  }
}
