package dev.batchrpc.suite.bench;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;

/** The benchmarks' CSV files: a header line, then one line per row, numbers in Locale.ROOT. */
public final class BenchCsv {

  private BenchCsv() {
  }

  /** {@code prefix-yyyyMMdd-HHmmss.csv}: the name of one run's file. */
  public static String stamped(String prefix) {
    return prefix + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + ".csv";
  }

  /** One line: {@code format} applied to {@code cells} in Locale.ROOT (a dot for decimals). */
  public static String row(String format, Object... cells) {
    return String.format(Locale.ROOT, format, cells);
  }

  /**
   * Writes {@code dir/name} (creating {@code dir}): the header, then the rows.
   *
   * @return the file
   */
  public static Path write(Path dir, String name, String header, List<String> rows) throws IOException {
    Files.createDirectories(dir);
    Path file = dir.resolve(name);
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8))) {
      w.println(header);
      rows.forEach(w::println);
    }
    return file;
  }
}
