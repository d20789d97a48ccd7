package dev.batchrpc.suite;

import dev.batchrpc.runtime.cli.EnvDefaults;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code batch-rpc config-docs} (hidden): prints {@code docs/configuration.md}, the table of every
 * service's flags, environment variables and defaults, generated from picocli's model of
 * {@link Main} so it cannot drift. ConfigDocsTest fails when the file is out of date.
 * Regenerate: {@code ./batch-rpc config-docs > docs/configuration.md}.
 */
@Command(name = "config-docs", hidden = true, mixinStandardHelpOptions = true,
    description = "Prints docs/configuration.md (every flag, environment variable and default).")
public final class ConfigDocs implements Callable<Integer> {

  /** The commands a deployment runs, in this order; the table covers exactly these. */
  public static final List<String> SERVICE_COMMANDS = List.of("demo", "ps", "trainer", "agent", "observer");

  /** One configurable option of a command. */
  public record Setting(String flag, String env, String defaultValue, String description) {
  }

  @Override
  public Integer call() {
    System.out.print(render());
    return 0;
  }

  /**
   * The settings of a command, from picocli's model: each option's longest name, its
   * {@code BATCHRPC_*} fallback ({@link EnvDefaults}; null when it has none) and annotated default.
   */
  public static List<Setting> settings(CommandSpec command) {
    List<Setting> out = new ArrayList<>();
    for (OptionSpec o : command.options()) {
      if (o.usageHelp() || o.versionHelp()) {
        continue;
      }
      // The annotation's default, not the environment's: the docs must not depend on who runs them.
      String def = o.defaultValue();
      String description = String.join(" ", o.description())
          .replace("${DEFAULT-VALUE}", def == null ? "" : def);
      out.add(new Setting(o.longestName(), EnvDefaults.variableOf(o), def == null || def.isEmpty() ? "" : def,
          description));
    }
    return out;
  }

  /** The environment variable of each option of a command, by variable name. */
  public static Map<String, Setting> envSettings(CommandSpec command) {
    Map<String, Setting> out = new LinkedHashMap<>();
    for (Setting s : settings(command)) {
      if (s.env() != null) {
        out.put(s.env(), s);
      }
    }
    return out;
  }

  /** The whole Markdown file. */
  public static String render() {
    CommandLine main = Main.commandLine();
    StringBuilder md = new StringBuilder();
    md.append("# Configuration\n\n");
    md.append("<!-- GENERATED from the commands' picocli model by dev.batchrpc.suite.ConfigDocs; do not edit.\n")
        .append("     Regenerate: ./batch-rpc config-docs > docs/configuration.md (ConfigDocsTest checks it). -->\n\n");
    md.append("Every setting of every command has a flag and an environment variable: the flag wins, then\n")
        .append("the variable, then the default. Containers and Kubernetes use the variables (see\n")
        .append("[deployment.md](deployment.md)); `./batch-rpc COMMAND --help` shows the same table.\n")
        .append("A bad value stops the command with a message naming the flag.\n");
    for (String name : SERVICE_COMMANDS) {
      CommandSpec spec = main.getSubcommands().get(name).getCommandSpec();
      md.append("\n## `batch-rpc ").append(name).append("`\n\n");
      for (String line : spec.usageMessage().description()) {
        if (!line.isBlank()) {
          md.append(line.strip()).append(' ');
        }
      }
      md.setLength(md.length() - 1);
      md.append("\n\n| Flag | Environment variable | Default | Meaning |\n|---|---|---|---|\n");
      for (Setting s : settings(spec)) {
        md.append("| `").append(s.flag()).append("` | ")
            .append(s.env() == null ? "" : "`" + s.env() + "`").append(" | ")
            .append(s.defaultValue().isEmpty() ? "" : "`" + s.defaultValue() + "`").append(" | ")
            .append(cell(stripDefault(s.description(), !s.defaultValue().isEmpty()))).append(" |\n");
      }
    }
    return md.toString();
  }

  /** The description without its "Default: y." sentence (it has its own column). */
  private static String stripDefault(String d, boolean hasDefault) {
    // Without a default value, the sentence says what happens instead ("Default: none (...)."): keep it.
    return (hasDefault ? d.replaceAll("\\s*Default: [^|]*?\\.(?=\\s|$)", "") : d).strip();
  }

  private static String cell(String s) {
    return s.replace("|", "\\|").replace("\n", " ");
  }
}
