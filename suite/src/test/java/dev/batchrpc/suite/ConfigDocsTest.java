package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** docs/configuration.md is what picocli's model generates; every setting has a variable; --help everywhere. */
class ConfigDocsTest {

  @Test
  void configurationDocIsUpToDate() throws Exception {
    Path doc = Deploy.root().resolve("docs/configuration.md");
    assertThat(Files.exists(doc)).as("missing %s: run ./batch-rpc config-docs > docs/configuration.md", doc).isTrue();
    assertThat(Files.readString(doc))
        .as("docs/configuration.md is out of date with the commands' options; regenerate it with:%n"
            + "  ./batch-rpc config-docs > docs/configuration.md")
        .isEqualTo(ConfigDocs.render());
  }

  @Test
  void everySettingOfEveryServiceHasAnEnvironmentVariableNamedAfterItsFlag() {
    CommandLine main = Main.commandLine();
    for (String name : ConfigDocs.SERVICE_COMMANDS) {
      StringWriter help = new StringWriter();
      assertThat(Main.commandLine().setOut(new PrintWriter(help)).execute(name, "--help")).isZero();
      String words = help.toString().replaceAll("\\s+", " ");
      for (ConfigDocs.Setting s : ConfigDocs.settings(main.getSubcommands().get(name).getCommandSpec())) {
        String expected = "BATCHRPC_" + s.flag().substring(2).replace('-', '_').toUpperCase(java.util.Locale.ROOT);
        assertThat(s.env()).as("%s %s", name, s.flag()).isEqualTo(expected);
        assertThat(words).as("%s --help names the variable of %s", name, s.flag()).contains("Env " + expected + ".");
      }
    }
  }

  @Test
  void helpWorksForEveryCommand() {
    CommandLine main = Main.commandLine();
    for (String name : main.getSubcommands().keySet()) {
      if (name.equals("help")) {
        continue;
      }
      StringWriter out = new StringWriter();
      int exit = Main.commandLine().setOut(new PrintWriter(out)).execute(name, "--help");
      assertThat(exit).as(name).isZero();
      assertThat(out.toString()).as(name).contains("Usage:").contains("--help");
    }
  }

  @Test
  void everyHelpRendersWithoutAPicocliWarning() throws Exception {
    // picocli formats each description line with String.format: a bare '%' ("10% faster") makes it
    // print a warning on stderr with every --help, and show that line unformatted.
    java.io.PrintStream err = System.err;
    java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
    System.setErr(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      renderAll(Main.commandLine());
    } finally {
      System.setErr(err);
    }
    assertThat(captured.toString(java.nio.charset.StandardCharsets.UTF_8))
        .as("a description with a bare percent sign (write two)").doesNotContain("[picocli WARN]");
  }

  private static void renderAll(CommandLine cl) {
    assertThat(cl.getUsageMessage()).contains("Usage:");
    for (CommandLine sub : cl.getSubcommands().values()) {
      renderAll(sub);
    }
  }
}
