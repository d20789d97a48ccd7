package dev.batchrpc.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.cli.ServiceLauncher.Plan;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.process.ChildJvm;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Every service command's path: bad flag (2), failed start or job (1), the job's status, the node closed. */
class ServiceLauncherTest {

  /** A verticle that records that it was stopped (the node was closed). */
  static final class Probe extends VerticleBase {
    final AtomicBoolean stopped = new AtomicBoolean();

    @Override
    public Future<?> stop() {
      stopped.set(true);
      System.out.println("probe stopped");
      return Future.succeededFuture();
    }
  }

  @Command(name = "svc", mixinStandardHelpOptions = true, defaultValueProvider = EnvDefaults.class)
  static final class Job implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    OpsOptions ops;

    @Option(names = "--count", defaultValue = "1")
    int count;

    @Option(names = "--outcome", defaultValue = "ok", description = "ok, 3 (exit 3) or fail")
    String outcome;

    boolean validated;
    final Probe probe = new Probe();
    final AtomicReference<ServiceLauncher.Started> started = new AtomicReference<>();
    Map<String, Boolean> readiness;

    @Override
    public Integer call() throws Exception {
      return ServiceLauncher.of(spec, ops, "work").run(() -> {
        if (count < 1) {
          throw new IllegalArgumentException("--count must be at least 1, got " + count);
        }
        validated = true;
        return new Plan<>(NodeConfig.local(), s -> {
          started.set(s);
          readiness = s.readiness().snapshot();
          s.node().vertx().deployVerticle(probe).await();
          return switch (outcome) {
            case "ok" -> 0;
            case "3" -> 3;
            default -> throw new IllegalStateException("the job failed on purpose");
          };
        });
      });
    }
  }

  /** A long-running service whose deployment fails, or serves until SIGTERM (run as a child JVM). */
  @Command(name = "server", mixinStandardHelpOptions = true, defaultValueProvider = EnvDefaults.class)
  static final class Server implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    OpsOptions ops;

    @Option(names = "--fail-deploy")
    boolean failDeploy;

    final Probe probe = new Probe();

    @Override
    public Integer call() throws Exception {
      return ServiceLauncher.of(spec, ops, "consumers").serve(() -> new Plan<>(NodeConfig.local(), s -> {
        s.node().vertx().deployVerticle(probe).await();
        if (failDeploy) {
          throw new IllegalStateException("cannot listen on 1.2.3.4:5 (--some-port)");
        }
        s.readiness().set("consumers", true);
        System.out.println("server: serving; " + s.opsLine());
      }));
    }

    public static void main(String[] args) {
      System.exit(ServiceLauncher.commandLine(new Server()).execute(args));
    }
  }

  private record Run(int exit, String err) {
  }

  private static Run execute(Object command, String... args) {
    StringWriter err = new StringWriter();
    int exit = ServiceLauncher.commandLine(command).setErr(new PrintWriter(err, true)).execute(args);
    return new Run(exit, err.toString());
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void aBadSettingExitsTwoWithOneLineNamingTheFlagAndStartsNothing() {
    Job job = new Job();
    Run run = execute(job, "--count", "0", "--metrics-port", "-1");
    assertThat(run.exit()).as(run.err()).isEqualTo(2);
    assertThat(run.err().lines().toList()).containsExactly("svc: --count must be at least 1, got 0",
        "See 'svc --help' for the options.");
    assertThat(job.validated).isFalse();
    assertThat(job.started.get()).as("no node started").isNull();

    // The ops options are validated in the same step, and picocli's own parse errors look alike.
    assertThat(execute(new Job(), "--metrics-port", "-2").err()).startsWith("svc: --metrics-port must be");
    Run notANumber = execute(new Job(), "--count", "many");
    assertThat(notANumber.exit()).isEqualTo(2);
    assertThat(notANumber.err()).startsWith("svc: Invalid value for option '--count': 'many' is not an int")
        .doesNotContain("Usage:");
    Run typo = execute(new Job(), "--cont", "2");
    assertThat(typo.exit()).isEqualTo(2);
    assertThat(typo.err()).contains("svc: Unknown options: '--cont', '2'").contains("--count");
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void aJobRunsOnAStartedNodeWithItsReadinessAndTheNodeIsClosedAfterIt() {
    Job job = new Job();
    Run run = execute(job, "--metrics-port", "0");
    assertThat(run.exit()).as(run.err()).isZero();
    assertThat(run.err()).isEmpty();
    assertThat(job.readiness).as("a local node has no cluster condition").containsExactly(Map.entry("work", false));
    assertThat(job.started.get().opsLine()).startsWith("metrics on http://127.0.0.1:");
    assertThat(job.probe.stopped).as("the node was closed").isTrue();

    Job three = new Job();
    assertThat(execute(three, "--metrics-port", "-1", "--outcome", "3").exit()).isEqualTo(3);
    assertThat(three.probe.stopped).isTrue();
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void aFailedJobOrStartExitsOneWithTheMessageAndClosesTheNode() {
    Job job = new Job();
    Run run = execute(job, "--metrics-port", "-1", "--outcome", "fail");
    assertThat(run.exit()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("svc: the job failed on purpose" + System.lineSeparator());
    assertThat(job.probe.stopped).isTrue();

    Server server = new Server();
    Run failed = execute(server, "--metrics-port", "-1", "--fail-deploy");
    assertThat(failed.exit()).isEqualTo(1);
    assertThat(failed.err()).isEqualTo("server: failed to start: cannot listen on 1.2.3.4:5 (--some-port)"
        + System.lineSeparator());
    assertThat(server.probe.stopped).isTrue();
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aServiceServesUntilSigtermThenClosesItsNode() throws Exception {
    try (ChildJvm child = ChildJvm.start("server", ChildJvm.command(Server.class, "-XX:TieredStopAtLevel=1"),
        List.of("--metrics-port", "0"), Map.of())) {
      child.awaitPrefix("server: serving; metrics on http://127.0.0.1:", 30_000);
      long t0 = System.nanoTime();
      // SIGTERM; through the handle, since Process.destroy() also closes the pipe of its output.
      assertThat(child.process().toHandle().destroy()).isTrue();
      int exit = child.awaitExit(ServiceLauncher.SHUTDOWN_TIMEOUT.toMillis() + 5_000);
      assertThat(exit).as(child.output()).isEqualTo(143);
      assertThat(child.awaitLine("probe stopped"::equals, 5_000)).as(child.output()).isNotNull();
      assertThat(child.output()).doesNotContain("Exception");
      assertThat((System.nanoTime() - t0) / 1e9).isLessThan(ServiceLauncher.SHUTDOWN_TIMEOUT.toSeconds());
    }
  }
}
