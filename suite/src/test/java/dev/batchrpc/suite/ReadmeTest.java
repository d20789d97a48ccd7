package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The README's hand-written summaries must not drift from the code: its table of shared settings
 * (flag, variable, default) and its command list are checked against picocli's model of every
 * service command.
 */
class ReadmeTest {

  /** A row "| `--flag` | `BATCHRPC_X` | default | meaning |". */
  private static final Pattern SETTING_ROW =
      Pattern.compile("^\\| `(--[a-z-]+)` \\| `(BATCHRPC_[A-Z_]+)` \\| ([^|]*) \\|");
  /** A row "| `command` | what it does |" (or "| `bench ps` | ...") of the commands table. */
  private static final Pattern COMMAND_ROW = Pattern.compile("^\\| `([a-z][a-z -]*)`(?:, `([a-z][a-z-]*)`)? \\|");

  private static List<String> readme() throws IOException {
    Path p = Path.of("..", "README.md");
    return Files.readAllLines(p);
  }

  @Test
  void sharedSettingsTableMatchesEveryServiceCommand() throws IOException {
    CommandLine main = Main.commandLine();
    List<String[]> rows = new ArrayList<>();
    for (String line : readme()) {
      Matcher m = SETTING_ROW.matcher(line);
      if (m.find()) {
        rows.add(new String[] {m.group(1), m.group(2), m.group(3).trim()});
      }
    }
    assertThat(rows).as("rows of the README's shared settings table").hasSizeGreaterThanOrEqualTo(6);
    for (String service : List.of("ps", "trainer", "agent", "observer")) {
      Map<String, ConfigDocs.Setting> byEnv =
          ConfigDocs.envSettings(main.getSubcommands().get(service).getCommandSpec());
      for (String[] row : rows) {
        ConfigDocs.Setting s = byEnv.get(row[1]);
        assertThat(s).as("%s has %s (README says it is shared)", service, row[1]).isNotNull();
        assertThat(s.flag()).as("flag of %s in %s", row[1], service).isEqualTo(row[0]);
        String readmeDefault = row[2].equals("none") ? "" : row[2];
        assertThat(s.defaultValue()).as("default of %s in %s", row[0], service).isEqualTo(readmeDefault);
      }
    }
  }

  @Test
  void everyCommandTheReadmeListsExists() throws IOException {
    CommandLine main = Main.commandLine();
    List<String> launcherOnly = List.of("build", "test", "bench compute");
    int listed = 0;
    for (String line : readme()) {
      Matcher m = COMMAND_ROW.matcher(line);
      if (!m.find()) {
        continue;
      }
      for (String name : new String[] {m.group(1), m.group(2)}) {
        if (name == null || launcherOnly.contains(name)) {
          continue;
        }
        CommandLine command = main;
        for (String word : name.split(" ")) {
          assertThat(command.getSubcommands()).as("README lists '%s'", name).containsKey(word);
          command = command.getSubcommands().get(word);
        }
        listed++;
      }
    }
    assertThat(listed).as("commands found in the README's table").isGreaterThanOrEqualTo(6);
  }
}
