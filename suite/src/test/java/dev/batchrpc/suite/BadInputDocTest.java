package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;

/**
 * docs/bad-input.md cannot rot: every row names at least one test, and every {@code Class#method}
 * it names is a method {@code void method(} of a test class {@code Class.java} in some module's
 * {@code src/test/java}.
 */
class BadInputDocTest {

  private static final Pattern TEST_REF = Pattern.compile("`([A-Z][A-Za-z0-9]*)#([a-z][A-Za-z0-9]*)`");

  @Test
  void everyTestTheTableNamesExists() throws IOException {
    Path root = Deploy.root();
    Map<String, List<Path>> testSources = testSources(root);
    List<String> lines = Files.readAllLines(root.resolve("docs/bad-input.md"));
    // every table row but the headers (a header is the line above "| --- |")
    List<String> rows = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String l = lines.get(i);
      boolean header = i + 1 < lines.size() && lines.get(i + 1).startsWith("| ---");
      if (l.startsWith("| ") && !l.startsWith("| ---") && !header) {
        rows.add(l);
      }
    }
    assertThat(rows).as("rows of the table in docs/bad-input.md").hasSizeGreaterThanOrEqualTo(20);
    SoftAssertions softly = new SoftAssertions();
    int refs = 0;
    for (String row : rows) {
      String[] cells = row.split(" \\| ");
      String testCell = cells[cells.length - 1];
      Matcher m = TEST_REF.matcher(testCell);
      List<String> named = new ArrayList<>();
      while (m.find()) {
        named.add(m.group(1) + "#" + m.group(2));
        refs++;
        List<Path> files = testSources.getOrDefault(m.group(1), List.of());
        softly.assertThat(files).as("test class %s (row: %s)", m.group(1), cells[0]).isNotEmpty();
        String signature = "void " + m.group(2) + "(";
        softly.assertThat(files.stream().anyMatch(f -> read(f).contains(signature)))
            .as("%s#%s exists", m.group(1), m.group(2)).isTrue();
      }
      softly.assertThat(named).as("tests named by the row '%s'", cells[0]).isNotEmpty();
    }
    softly.assertAll();
    assertThat(refs).isGreaterThanOrEqualTo(rows.size());
  }

  /** Test sources by simple class name (a name may exist in several modules). */
  private static Map<String, List<Path>> testSources(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root, 12)) {
      return walk.filter(p -> p.toString().endsWith(".java"))
          .filter(p -> p.toString().contains("/src/test/java/") && !p.toString().contains("/target/"))
          .collect(Collectors.groupingBy(p -> p.getFileName().toString().replace(".java", "")));
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
