package dev.batchrpc.suite.bench.rl;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Draws the tutorial's figure (world size against time) with {@code java.awt}, headless: one line
 * per (deployment, mode), a log-scale time axis (one-process and multi-process times differ by
 * orders of magnitude), ticks, grid and a legend.
 */
public final class RlPlot {

  private static final Color[] COLORS = {
      new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44), new Color(214, 39, 40)};

  private RlPlot() {
  }

  /**
   * Writes the PNG.
   *
   * @param series label to points {world size, seconds}, in legend order
   */
  public static void write(File file, String title, Map<String, List<double[]>> series) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int w = 900;
    int h = 600;
    int left = 90;
    int right = 30;
    int top = 50;
    int bottom = 70;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    double xMin = Double.MAX_VALUE;
    double xMax = -Double.MAX_VALUE;
    double yMin = Double.MAX_VALUE;
    double yMax = -Double.MAX_VALUE;
    for (List<double[]> pts : series.values()) {
      for (double[] p : pts) {
        xMin = Math.min(xMin, p[0]);
        xMax = Math.max(xMax, p[0]);
        if (p[1] > 0) {
          yMin = Math.min(yMin, p[1]);
          yMax = Math.max(yMax, p[1]);
        }
      }
    }
    if (xMin > xMax) {
      xMin = 2;
      xMax = 11;
      yMin = 0.01;
      yMax = 1;
    }
    if (xMax == xMin) {
      xMin -= 1;
      xMax += 1;
    }
    double lyMin = Math.floor(Math.log10(yMin));
    double lyMax = Math.ceil(Math.log10(yMax));
    if (lyMax == lyMin) {
      lyMax += 1;
    }
    int pw = w - left - right;
    int ph = h - top - bottom;
    final double fxMin = xMin;
    final double fxMax = xMax;
    final double flyMin = lyMin;
    final double flyMax = lyMax;
    java.util.function.DoubleUnaryOperator px = x -> left + (x - fxMin) / (fxMax - fxMin) * pw;
    java.util.function.DoubleUnaryOperator py = y -> top + ph - (Math.log10(y) - flyMin) / (flyMax - flyMin) * ph;
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
    // grid and ticks
    for (int x = (int) Math.ceil(xMin); x <= xMax; x++) {
      int X = (int) px.applyAsDouble(x);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(X, top, X, top + ph);
      g.setColor(Color.BLACK);
      g.drawLine(X, top + ph, X, top + ph + 5);
      String s = Integer.toString(x);
      g.drawString(s, X - g.getFontMetrics().stringWidth(s) / 2, top + ph + 20);
    }
    for (int e = (int) lyMin; e <= lyMax; e++) {
      for (int m = 1; m < 10; m++) {
        double y = m * Math.pow(10, e);
        if (Math.log10(y) > lyMax + 1e-9) {
          break;
        }
        int Y = (int) py.applyAsDouble(y);
        g.setColor(m == 1 ? new Color(210, 210, 210) : new Color(240, 240, 240));
        g.drawLine(left, Y, left + pw, Y);
        if (m == 1) {
          g.setColor(Color.BLACK);
          g.drawLine(left - 5, Y, left, Y);
          String s = e >= 0 ? String.format(Locale.ROOT, "%.0f", y) : String.format(Locale.ROOT, "%." + (-e) + "f", y);
          g.drawString(s, left - 10 - g.getFontMetrics().stringWidth(s), Y + 5);
        }
      }
    }
    g.setColor(Color.BLACK);
    g.drawRect(left, top, pw, ph);
    g.drawString("world size (agent + observers)", left + pw / 2 - 90, h - 25);
    Graphics2D r = (Graphics2D) g.create();
    r.rotate(-Math.PI / 2);
    r.drawString("episode loop time (s, log scale)", -(top + ph / 2 + 100), 25);
    r.dispose();
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    g.drawString(title, left, 30);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
    // series
    int k = 0;
    for (Map.Entry<String, List<double[]>> s : series.entrySet()) {
      Color c = COLORS[k % COLORS.length];
      boolean dashed = s.getKey().contains("nobatch");
      g.setColor(c);
      g.setStroke(dashed ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
          new float[] {8f, 5f}, 0f) : new BasicStroke(2f));
      int prevX = -1;
      int prevY = -1;
      for (double[] p : s.getValue()) {
        if (p[1] <= 0) {
          continue;
        }
        int X = (int) px.applyAsDouble(p[0]);
        int Y = (int) py.applyAsDouble(p[1]);
        if (prevX >= 0) {
          g.drawLine(prevX, prevY, X, Y);
        }
        g.fillOval(X - 4, Y - 4, 8, 8);
        prevX = X;
        prevY = Y;
      }
      int ly = top + 20 + 20 * k;
      g.drawLine(left + 15, ly - 5, left + 45, ly - 5);
      g.setColor(Color.BLACK);
      g.drawString(s.getKey(), left + 52, ly);
      k++;
    }
    g.dispose();
    File parent = file.getAbsoluteFile().getParentFile();
    if (parent != null) {
      parent.mkdirs();
    }
    ImageIO.write(img, "png", file);
  }
}
