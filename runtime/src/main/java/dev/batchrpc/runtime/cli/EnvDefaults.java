package dev.batchrpc.runtime.cli;

import java.util.Locale;
import java.util.Objects;
import java.util.function.UnaryOperator;
import picocli.CommandLine;
import picocli.CommandLine.Help.Ansi.Text;
import picocli.CommandLine.Help.ColorScheme;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The environment fallback of every service setting: option {@code --x-y} reads the variable
 * {@code BATCHRPC_X_Y} (for compose and Kubernetes); the flag wins, then the variable, then the
 * option's annotated default. A command opts in with
 * {@code @Command(defaultValueProvider = EnvDefaults.class)}; its mixins' options are covered too.
 *
 * <p>A variable that is set but empty is the empty value (as picocli's {@code ${env:X:-d}} had it),
 * not "unset". The usage help ({@link #helpFactory()}) names each option's variable, so the name
 * is written nowhere by hand.
 */
public final class EnvDefaults implements IDefaultValueProvider {

  /** The prefix of every variable. */
  public static final String PREFIX = "BATCHRPC_";

  private final UnaryOperator<String> environment;

  /** Reads the process environment (how picocli creates it from the annotation). */
  public EnvDefaults() {
    this(System::getenv);
  }

  /** Reads {@code environment} instead of the process's (tests). */
  public EnvDefaults(UnaryOperator<String> environment) {
    this.environment = Objects.requireNonNull(environment, "environment");
  }

  /** {@code --x-y} to {@code BATCHRPC_X_Y}: the option's longest name, upper case, dashes as underscores. */
  public static String variable(String longestName) {
    String name = longestName.replaceFirst("^-+", "");
    return PREFIX + name.replace('-', '_').toUpperCase(Locale.ROOT);
  }

  /**
   * The variable an option reads, or null when it reads none: its command does not use
   * {@code EnvDefaults}, or it is {@code --help} / {@code --version}.
   */
  public static String variableOf(ArgSpec arg) {
    if (!(arg instanceof OptionSpec option) || option.usageHelp() || option.versionHelp()) {
      return null;
    }
    CommandSpec command = option.command();
    if (command == null || !(command.defaultValueProvider() instanceof EnvDefaults)) {
      return null;
    }
    return variable(option.longestName());
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (!(arg instanceof OptionSpec option) || option.usageHelp() || option.versionHelp()) {
      return null;
    }
    return environment.apply(variable(option.longestName()));
  }

  /**
   * A help factory whose option list ends each description of an {@code EnvDefaults} command with
   * "Env BATCHRPC_X_Y." (other commands' help is unchanged).
   */
  public static CommandLine.IHelpFactory helpFactory() {
    return NamingHelp::new;
  }

  /** The usage help with each option's variable named. */
  private static final class NamingHelp extends CommandLine.Help {

    NamingHelp(CommandSpec spec, ColorScheme scheme) {
      super(spec, scheme);
    }

    @Override
    public IOptionRenderer createDefaultOptionRenderer() {
      IOptionRenderer plain = super.createDefaultOptionRenderer();
      return (option, labels, scheme) -> {
        Text[][] rows = plain.render(option, labels, scheme);
        String env = variableOf(option);
        if (env == null || rows.length == 0) {
          return rows;
        }
        // The last row holds the end of the description (its last column).
        Text[] last = rows[rows.length - 1];
        last[last.length - 1] = last[last.length - 1].concat(" Env " + env + ".");
        return rows;
      };
    }
  }
}
