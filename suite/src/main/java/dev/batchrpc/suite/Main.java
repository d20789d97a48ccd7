package dev.batchrpc.suite;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code batch-rpc} command: every service, the demo and every benchmark is a subcommand.
 * The {@code ./batch-rpc} launcher at the repository root builds the project and runs this class.
 */
@Command(
    name = "batch-rpc",
    mixinStandardHelpOptions = true,
    versionProvider = VersionCommand.Provider.class,
    description = {
        "Batched RPC processing for machine learning: a batch-updating parameter server",
        "and a batch-processing CartPole agent on Vert.x (clustered event bus + gRPC).",
        ""
    },
    commandListHeading = "%nCommands:%n",
    footer = {
        "",
        "Run 'batch-rpc COMMAND --help' for the options of one command.",
        "The ./batch-rpc launcher also has: 'build' (re-build the project), 'test' (the whole",
        "test suite, as CI runs it) and 'bench compute' (JMH benchmarks of the compute core)."
    },
    subcommands = {
        VersionCommand.class,
        CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    // No subcommand: show the usage, like git does.
    spec.commandLine().usage(System.out);
  }

  /** Builds the command line (tests use it too). */
  public static CommandLine commandLine() {
    return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }
}
