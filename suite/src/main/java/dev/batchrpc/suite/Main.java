package dev.batchrpc.suite;

import java.io.IOException;
import java.io.InputStream;
import java.util.logging.LogManager;
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
        VersionCommand.class, DemoCommand.class, dev.batchrpc.ps.PsCommand.class, dev.batchrpc.trainer.TrainerCommand.class, dev.batchrpc.suite.bench.BenchCommand.class,
        dev.batchrpc.agent.AgentCommand.class, dev.batchrpc.observer.ObserverCommand.class,
        ConfigDocs.class, CommandLine.HelpCommand.class
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
    configureLogging();
    System.exit(commandLine().execute(args));
  }

  /** One-line log records and quiet third-party chatter, unless the user brings a config. */
  static void configureLogging() {
    if (System.getProperty("java.util.logging.config.file") != null) {
      return;
    }
    try (InputStream in = Main.class.getResourceAsStream("/batch-rpc-logging.properties")) {
      if (in != null) {
        LogManager.getLogManager().readConfiguration(in);
      }
    } catch (IOException e) {
      System.err.println("batch-rpc: default logging setup not applied: " + e.getMessage());
    }
  }
}
