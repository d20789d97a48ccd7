package dev.batchrpc.runtime.cli;

import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.ops.Readiness;
import io.vertx.core.eventbus.ReplyException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.ExitCode;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * How a service command runs, in one place: validate the settings, start the node, install
 * the shutdown hook (at once, so a stop during a long deployment still closes the node), serve the
 * ops endpoint with the service's readiness conditions, deploy, and return the exit status.
 *
 * <ul>
 *   <li>A bad setting (an {@link IllegalArgumentException} from validation, or picocli's own parse
 *       error) prints {@code batch-rpc CMD: <message naming the flag>} and a hint to {@code --help}
 *       and exits {@link ExitCode#USAGE} (2); nothing has started.
 *   <li>A failure to start (node, ops endpoint, deployment) prints
 *       {@code batch-rpc CMD: failed to start: ...}, closes what started and exits
 *       {@link ExitCode#SOFTWARE} (1); so does a job that fails.
 *   <li>SIGTERM or Ctrl-C closes the node (its verticles stop: the parameter server writes its final
 *       checkpoint) within {@link #SHUTDOWN_TIMEOUT}.
 * </ul>
 *
 * <p>Threads: the picocli thread only validates and awaits futures ({@code .await()} belongs to
 * {@code main}); the services run on their event loops and workers.
 */
public final class ServiceLauncher {

  /**
   * The longest the node's close may take on the way out: under Docker's default stop timeout and
   * the manifests' {@code terminationGracePeriodSeconds}, so a stop is clean rather than killed.
   */
  public static final Duration SHUTDOWN_TIMEOUT = Duration.ofSeconds(10);

  /** The validated settings: the node to start and what to do on it once it serves. */
  public record Plan<T>(NodeConfig node, T then) {

    /** Checks the parts. */
    public Plan {
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(then, "then");
    }
  }

  /**
   * Validates the settings (step 1).
   *
   * @param <T> what runs on the node
   */
  @FunctionalInterface
  public interface Validation<T> {
    /**
     * The plan.
     *
     * @throws IllegalArgumentException naming the flag of a bad value
     */
    Plan<T> validate();
  }

  /** What a long-running service deploys on its started node; it sets its readiness conditions. */
  @FunctionalInterface
  public interface Deployment {
    /** Deploys and prints the start line; a failure is a failure to start. */
    void deploy(Started started) throws Exception;
  }

  /** What a command that ends runs on its started node. */
  @FunctionalInterface
  public interface Job {
    /** Runs to the end; the exit status. An exception is printed and exits 1. */
    int run(Started started) throws Exception;
  }

  /**
   * A started node with its ops endpoint.
   *
   * @param node the process's node
   * @param readiness the readiness conditions /health/ready reports (the service sets its own)
   * @param opsLine where metrics and health are served, for the start line
   */
  public record Started(Node node, Readiness readiness, String opsLine) {
  }

  private final CommandSpec spec;
  private final OpsOptions ops;
  private final List<String> conditions;

  private ServiceLauncher(CommandSpec spec, OpsOptions ops, List<String> conditions) {
    this.spec = Objects.requireNonNull(spec, "spec");
    this.ops = Objects.requireNonNull(ops, "ops");
    this.conditions = List.copyOf(conditions);
  }

  /**
   * The launcher of a command.
   *
   * @param spec the command's picocli spec (its name and error writer)
   * @param ops the command's ops options
   * @param readinessConditions what /health/ready waits for besides the cluster ("model", ...)
   */
  public static ServiceLauncher of(CommandSpec spec, OpsOptions ops, String... readinessConditions) {
    return new ServiceLauncher(spec, ops, List.of(readinessConditions));
  }

  /**
   * Runs a service until SIGTERM or Ctrl-C: validate, start the node, ops, hook, deploy, then wait
   * for the hook to close the node.
   *
   * @return 0 once stopped, 1 when it failed to start
   * @throws ParameterException for a bad setting (exit 2 through {@link #commandLine})
   */
  public int serve(Validation<Deployment> validation) throws InterruptedException {
    Plan<Deployment> plan = validate(validation);
    CountDownLatch stopped = new CountDownLatch(1);
    return launch(plan.node(), plan.then(), started -> {
      stopped.await();
      return ExitCode.OK;
    }, stopped);
  }

  /**
   * Runs a command that ends: validate, start the node, ops, hook, then the job; the node is
   * closed after it.
   *
   * @return the job's exit status, or 1 when it failed to start or failed
   * @throws ParameterException for a bad setting (exit 2 through {@link #commandLine})
   */
  public int run(Validation<Job> validation) throws InterruptedException {
    Plan<Job> plan = validate(validation);
    return launch(plan.node(), started -> { }, plan.then(), null);
  }

  /** Step 1: a bad value becomes picocli's usage error (exit 2), before anything starts. */
  private <T> Plan<T> validate(Validation<T> validation) {
    try {
      ops.validate();
      return validation.validate();
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage(), e);
    }
  }

  /**
   * Steps 2 to the end: the node, the hook, ops and readiness, the deployment, then the body.
   *
   * @param stopped counted down by the hook of a service that runs until stopped; null for a job
   *     (its node is closed after the body)
   */
  private int launch(NodeConfig config, Deployment deployment, Job body, CountDownLatch stopped)
      throws InterruptedException {
    Node node;
    try {
      node = Nodes.start(config).await();
    } catch (Exception e) {
      return fail("failed to start: " + describe(e));
    }
    Thread hook = new Thread(() -> {
      close(node);
      if (stopped != null) {
        stopped.countDown();
      }
    }, spec.name() + "-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    Started started;
    try {
      Readiness readiness = new Readiness();
      conditions.forEach(readiness::require);
      if (node.isClustered()) {
        readiness.set("cluster", true);
      }
      started = new Started(node, readiness, ops.start(node, readiness).await());
      deployment.deploy(started);
    } catch (InterruptedException e) {
      throw e;
    } catch (Exception e) {
      closeUnlessStopping(node, hook);
      return fail("failed to start: " + describe(e));
    }
    try {
      return body.run(started);
    } catch (InterruptedException e) {
      throw e;
    } catch (Exception e) {
      return fail(describe(e));
    } finally {
      if (stopped == null) {
        closeUnlessStopping(node, hook);
      }
    }
  }

  private int fail(String message) {
    PrintWriter err = spec.commandLine().getErr();
    err.println(spec.qualifiedName() + ": " + message);
    err.flush();
    return ExitCode.SOFTWARE;
  }

  /** Closes the node now, unless the JVM is stopping (then the hook closes it). */
  private void closeUnlessStopping(Node node, Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException stopping) {
      return;
    }
    close(node);
  }

  private void close(Node node) {
    try {
      node.close().await(SHUTDOWN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      PrintWriter err = spec.commandLine().getErr();
      err.println(spec.qualifiedName() + ": error while stopping: " + describe(e));
      err.flush();
    }
  }

  /**
   * A failure in one line: the message of what went wrong (a remote failure with its code's text),
   * the exception's name only when it has no message.
   */
  static String describe(Throwable failure) {
    Throwable t = failure;
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    if (t instanceof ReplyException || t instanceof RpcException) {
      return RpcException.of(t).getMessage();
    }
    return t.getMessage() == null ? t.toString() : t.getMessage();
  }

  /**
   * A command line of a service command (or of {@code batch-rpc} with its subcommands): enum values
   * case-insensitive, each option's environment variable named in {@code --help}
   * ({@link EnvDefaults}), and a bad flag answered in one line plus a hint (exit 2) rather than the
   * whole usage help.
   */
  public static CommandLine commandLine(Object command) {
    return configure(new CommandLine(command));
  }

  /** Configures a command line made elsewhere (with its own factory) as {@link #commandLine} does. */
  public static CommandLine configure(CommandLine cl) {
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setHelpFactory(EnvDefaults.helpFactory());
    cl.setParameterExceptionHandler(ServiceLauncher::badFlag);
    return cl;
  }

  /**
   * {@code batch-rpc CMD: <message>}, picocli's "did you mean" for a misspelt flag, and where the
   * options are listed; exit 2.
   */
  private static int badFlag(ParameterException e, String[] args) {
    CommandLine cl = e.getCommandLine();
    PrintWriter err = cl.getErr();
    CommandSpec command = cl.getCommandSpec();
    err.println(command.qualifiedName() + ": " + e.getMessage());
    UnmatchedArgumentException.printSuggestions(e, err);
    err.println("See '" + command.qualifiedName() + " --help' for the options.");
    err.flush();
    return cl.getExitCodeExceptionMapper() != null ? cl.getExitCodeExceptionMapper().getExitCode(e)
        : command.exitCodeOnInvalidInput();
  }
}
