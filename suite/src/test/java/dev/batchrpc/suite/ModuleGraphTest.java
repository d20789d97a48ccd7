package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The module graph as the build has it (every module's pom) against the documented one (the
 * module table of docs/architecture.md) and its rules: services -> runtime -> shared-proto,
 * services -> compute, no service depending on another outside tests, only the suite above them.
 */
class ModuleGraphTest {

  private static final String GROUP = "dev.batchrpc";
  private static final Set<String> SERVICES =
      Set.of("ps-service", "trainer-service", "agent-service", "observer-service");
  private static final Pattern MODULE = Pattern.compile("<module>([^<]+)</module>");
  private static final Pattern NAME = Pattern.compile("`([a-z-]+)`");

  /** A module's dependencies on other modules: main ones and test-scoped ones (not test-jars). */
  record Edges(Set<String> main, Set<String> test, Set<String> testJars) {
  }

  private static Map<String, Edges> built;

  @BeforeAll
  static void readThePoms() throws Exception {
    Path root = Deploy.root();
    built = new LinkedHashMap<>();
    Matcher m = MODULE.matcher(Files.readString(root.resolve("pom.xml")));
    while (m.find()) {
      built.put(m.group(1), edges(root.resolve(m.group(1)).resolve("pom.xml")));
    }
  }

  @Test
  void theBuildHasTheModulesItIsDocumentedToHave() throws IOException {
    assertThat(built.keySet()).containsExactlyInAnyOrder("shared-proto", "compute", "runtime",
        "ps-service", "trainer-service", "agent-service", "observer-service", "suite");
    assertThat(documented().keySet()).as("the module table of docs/architecture.md")
        .containsExactlyInAnyOrderElementsOf(built.keySet());
  }

  @Test
  void theModuleTableDrawsTheArrowsThePomsHave() throws IOException {
    Map<String, Edges> doc = documented();
    SoftAssertions softly = new SoftAssertions();
    for (Map.Entry<String, Edges> e : built.entrySet()) {
      Edges documentedEdges = doc.get(e.getKey());
      softly.assertThat(documentedEdges).as("a row for %s", e.getKey()).isNotNull();
      if (documentedEdges != null) {
        softly.assertThat(documentedEdges.main()).as("%s depends on (docs/architecture.md)", e.getKey())
            .containsExactlyInAnyOrderElementsOf(e.getValue().main());
        softly.assertThat(documentedEdges.test()).as("%s depends on, tests only (docs/architecture.md)",
            e.getKey()).containsExactlyInAnyOrderElementsOf(e.getValue().test());
      }
    }
    softly.assertAll();
  }

  @Test
  void dependenciesPointOneWay() {
    SoftAssertions softly = new SoftAssertions();
    softly.assertThat(all("shared-proto")).as("shared-proto depends on no module").isEmpty();
    softly.assertThat(all("compute")).as("compute depends on no module").isEmpty();
    softly.assertThat(built.get("runtime").main()).as("runtime -> shared-proto").containsExactly("shared-proto");
    for (String service : SERVICES) {
      softly.assertThat(built.get(service).main()).as("%s -> runtime, compute, shared-proto only", service)
          .isSubsetOf("runtime", "compute", "shared-proto");
      softly.assertThat(built.get(service).testJars()).as("%s's test fixtures", service)
          .isSubsetOf("runtime", "compute");
    }
    // The one documented exception: trainers are tested against a real parameter server.
    for (String service : SERVICES) {
      Set<String> otherServices = new TreeSet<>(built.get(service).test());
      otherServices.retainAll(SERVICES);
      softly.assertThat(otherServices).as("services %s tests depend on", service)
          .isSubsetOf(service.equals("trainer-service") ? Set.of("ps-service") : Set.of());
    }
    for (Map.Entry<String, Edges> e : built.entrySet()) {
      softly.assertThat(all(e.getKey())).as("%s depends on suite", e.getKey()).doesNotContain("suite");
    }
    softly.assertAll();
  }

  private static Set<String> all(String module) {
    Edges e = built.get(module);
    Set<String> all = new TreeSet<>(e.main());
    all.addAll(e.test());
    all.addAll(e.testJars());
    return all;
  }

  /** The project's own dependencies of one pom (its dependencyManagement does not count). */
  private static Edges edges(Path pom) throws Exception {
    Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile())
        .getDocumentElement();
    Set<String> main = new TreeSet<>();
    Set<String> test = new TreeSet<>();
    Set<String> testJars = new TreeSet<>();
    for (Element deps : children(project, "dependencies")) {
      for (Element dep : children(deps, "dependency")) {
        if (!GROUP.equals(text(dep, "groupId"))) {
          continue;
        }
        String artifact = text(dep, "artifactId");
        if ("test-jar".equals(text(dep, "type"))) {
          testJars.add(artifact);
        } else if ("test".equals(text(dep, "scope"))) {
          test.add(artifact);
        } else {
          main.add(artifact);
        }
      }
    }
    return new Edges(main, test, testJars);
  }

  /**
   * The module table: a row {@code | `module` | what | modules | libraries |}; the modules cell
   * names main dependencies in backticks, then {@code tests only:} and the test-scoped ones.
   */
  private static Map<String, Edges> documented() throws IOException {
    String doc = Files.readString(Deploy.root().resolve("docs/architecture.md"));
    String section = doc.substring(doc.indexOf("## Modules"));
    section = section.substring(0, section.indexOf("\n#", 3));
    Map<String, Edges> rows = new LinkedHashMap<>();
    for (String line : section.split("\n")) {
      if (!line.startsWith("| `")) {
        continue;
      }
      String[] cells = line.split(" \\| ");
      String module = names(cells[0]).get(0);
      String[] parts = cells[2].split("tests only:", 2);
      rows.put(module, new Edges(new TreeSet<>(names(parts[0])),
          new TreeSet<>(parts.length > 1 ? names(parts[1]) : List.of()), Set.of()));
    }
    return rows;
  }

  private static List<String> names(String cell) {
    List<String> out = new ArrayList<>();
    Matcher m = NAME.matcher(cell);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  private static List<Element> children(Element parent, String name) {
    List<Element> out = new ArrayList<>();
    for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e && name.equals(e.getTagName())) {
        out.add(e);
      }
    }
    return out;
  }

  private static String text(Element parent, String name) {
    List<Element> found = children(parent, name);
    return found.isEmpty() ? null : found.get(0).getTextContent().trim();
  }
}
