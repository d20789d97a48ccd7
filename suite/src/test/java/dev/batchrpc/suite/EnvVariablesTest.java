package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every {@code BATCHRPC_*} variable the docs, compose files, deploy/ manifests and scripts name is
 * one a command reads: the variable of a service option ({@code EnvDefaults} derives it from the
 * flag, so a renamed flag shows up here), or one of the few read elsewhere, each checked in the
 * file that reads it.
 */
class EnvVariablesTest {

  private static final Pattern VARIABLE = Pattern.compile("BATCHRPC_[A-Z0-9_]+");

  /** Variables that are no service option, and the file that reads each. */
  private static final Map<String, String> NOT_OPTIONS = Map.of(
      "BATCHRPC_JAVA_OPTS", "batch-rpc",
      "BATCHRPC_SKIP_BUILD", "batch-rpc",
      "BATCHRPC_CUBLAS_PATH", "compute/src/main/java/dev/batchrpc/compute/cuda/CublasLocator.java",
      "BATCHRPC_TRAINER_JAVA_OPTS", "suite/src/main/java/dev/batchrpc/suite/bench/PsBench.java",
      "BATCHRPC_REFERENCE_PYTHON", "suite/src/main/java/dev/batchrpc/suite/bench/Reference.java",
      "BATCHRPC_IMAGE", "docker-compose.yml",
      "BATCHRPC_CONTAINER_TEST", "scripts/container-test.sh");

  /** Where users of the variables live (Java sources are checked by their own tests). */
  private static List<Path> userFiles(Path root) throws IOException {
    List<Path> files = new java.util.ArrayList<>();
    for (String top : List.of("docs", "deploy", "scripts")) {
      try (Stream<Path> walk = Files.walk(root.resolve(top))) {
        walk.filter(Files::isRegularFile).forEach(files::add);
      }
    }
    try (Stream<Path> list = Files.list(root)) {
      list.filter(p -> p.getFileName().toString().matches("docker-compose.*\\.ya?ml|README\\.md")).forEach(files::add);
    }
    try (Stream<Path> modules = Files.list(root)) {
      modules.map(m -> m.resolve("README.md")).filter(Files::isRegularFile).forEach(files::add);
    }
    return files;
  }

  @Test
  void everyVariableTheDeploymentAndDocsUseIsReadByTheSuite() throws IOException {
    Path root = Deploy.root();
    CommandLine main = Main.commandLine();
    Set<String> options = new TreeSet<>();
    for (String name : ConfigDocs.SERVICE_COMMANDS) {
      options.addAll(ConfigDocs.envSettings(main.getSubcommands().get(name).getCommandSpec()).keySet());
    }
    Map<String, Set<String>> used = new TreeMap<>();
    for (Path file : userFiles(root)) {
      String text;
      try {
        text = Files.readString(file, StandardCharsets.UTF_8);
      } catch (java.nio.charset.MalformedInputException binary) {
        continue;
      }
      Matcher m = VARIABLE.matcher(text);
      while (m.find()) {
        String v = m.group();
        // "BATCHRPC_TLS_*"-style prefixes and the placeholder of the naming rule are no variables.
        if (!v.endsWith("_") && !v.equals("BATCHRPC_X_Y")) {
          used.computeIfAbsent(v, k -> new TreeSet<>()).add(root.relativize(file).toString());
        }
      }
    }
    assertThat(used).as("the scan found the deployment's variables").containsKeys("BATCHRPC_CLUSTER_HOST",
        "BATCHRPC_TRAINERS", "BATCHRPC_TLS_CERT", "BATCHRPC_CUBLAS_PATH");

    SoftAssertions softly = new SoftAssertions();
    for (Map.Entry<String, Set<String>> e : used.entrySet()) {
      String v = e.getKey();
      if (NOT_OPTIONS.containsKey(v)) {
        softly.assertThat(Files.readString(root.resolve(NOT_OPTIONS.get(v)))).as("%s reads %s", NOT_OPTIONS.get(v), v)
            .contains(v);
      } else {
        softly.assertThat(options).as("%s (used in %s) is the variable of no service option", v, e.getValue())
            .contains(v);
      }
    }
    softly.assertAll();
  }
}
