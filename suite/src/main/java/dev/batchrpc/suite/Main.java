package dev.batchrpc.suite;

import dev.batchrpc.agent.AgentCommand;
import dev.batchrpc.observer.ObserverCommand;
import dev.batchrpc.ps.PsCommand;
import dev.batchrpc.runtime.cli.ServiceLauncher;
import dev.batchrpc.suite.bench.BenchCommand;
import dev.batchrpc.trainer.TrainerCommand;
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
        DemoCommand.class,
        PsCommand.class,
        TrainerCommand.class,
        AgentCommand.class,
        ObserverCommand.class,
        BenchCommand.class,
        CertsCommand.class,
        VersionCommand.class,
        ConfigDocs.class,
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
    CommandLine cl = ServiceLauncher.configure(new CommandLine(new Main(), new Factory())).setUsageHelpWidth(100);
    abbreviateSynopses(cl);
    return cl;
  }

  /**
   * Makes the subcommands as picocli would, except that {@code agent} gets its observers in this
   * process ({@link InProcessObservers}): the agent module does not know the observer.
   */
  private static final class Factory implements CommandLine.IFactory {
    private final CommandLine.IFactory defaults = CommandLine.defaultFactory();

    @Override
    public <K> K create(Class<K> cls) throws Exception {
      if (cls == AgentCommand.class) {
        return cls.cast(new AgentCommand(new InProcessObservers()));
      }
      return defaults.create(cls);
    }
  }

  /** "Usage: batch-rpc ps [OPTIONS]" rather than every option twice (the list follows anyway). */
  private static void abbreviateSynopses(CommandLine cl) {
    for (CommandLine sub : cl.getSubcommands().values()) {
      sub.getCommandSpec().usageMessage().abbreviateSynopsis(true);
      abbreviateSynopses(sub);
    }
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
