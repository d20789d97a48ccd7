package dev.batchrpc.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

class EnvDefaultsTest {

  @Command(name = "svc", mixinStandardHelpOptions = true, defaultValueProvider = EnvDefaults.class)
  static final class Svc implements Runnable {
    @Mixin
    NodeOptions node;

    @Option(names = {"-t", "--max-wait-ms"}, defaultValue = "60000", description = "Wait. Default: ${DEFAULT-VALUE}.")
    long maxWaitMs;

    @Option(names = "--id", description = "An id.")
    String id;

    boolean ran;

    @Override
    public void run() {
      ran = true;
    }
  }

  @Command(name = "plain", mixinStandardHelpOptions = true)
  static final class Plain {
    @Option(names = "--max-wait-ms", defaultValue = "5", description = "Wait.")
    long maxWaitMs;
  }

  private final Map<String, String> env = new HashMap<>();

  private Svc parse(String... args) {
    Svc svc = new Svc();
    new CommandLine(svc).setDefaultValueProvider(new EnvDefaults(env::get)).parseArgs(args);
    return svc;
  }

  @Test
  void theVariableIsTheLongestFlagInUpperCaseWithUnderscores() {
    assertThat(EnvDefaults.variable("--max-wait-ms")).isEqualTo("BATCHRPC_MAX_WAIT_MS");
    assertThat(EnvDefaults.variable("--clustered")).isEqualTo("BATCHRPC_CLUSTERED");
    CommandLine cl = new CommandLine(new Svc());
    assertThat(EnvDefaults.variableOf(cl.getCommandSpec().findOption("-t"))).isEqualTo("BATCHRPC_MAX_WAIT_MS");
    // A mixin's option belongs to the command that mixes it in.
    assertThat(EnvDefaults.variableOf(cl.getCommandSpec().findOption("--cluster-name")))
        .isEqualTo("BATCHRPC_CLUSTER_NAME");
    assertThat(EnvDefaults.variableOf(cl.getCommandSpec().findOption("--help"))).isNull();
    assertThat(EnvDefaults.variableOf(new CommandLine(new Plain()).getCommandSpec().findOption("--max-wait-ms")))
        .as("a command without EnvDefaults reads no variable").isNull();
  }

  @Test
  void theFlagWinsThenTheVariableThenTheAnnotatedDefault() {
    assertThat(parse().maxWaitMs).isEqualTo(60000);
    assertThat(parse().node.toConfig().clusterName()).isEqualTo("batch-rpc");
    assertThat(parse().id).isNull();

    env.put("BATCHRPC_MAX_WAIT_MS", "7");
    env.put("BATCHRPC_CLUSTER_NAME", "c9");
    env.put("BATCHRPC_CLUSTERED", "true");
    env.put("BATCHRPC_ID", "t-1");
    Svc fromEnv = parse();
    assertThat(fromEnv.maxWaitMs).isEqualTo(7);
    assertThat(fromEnv.id).isEqualTo("t-1");
    assertThat(fromEnv.node.toConfig().clusterName()).isEqualTo("c9");
    assertThat(fromEnv.node.toConfig().clustered()).isTrue();

    Svc flags = parse("--max-wait-ms", "8", "--cluster-name", "c10", "--clustered=false");
    assertThat(flags.maxWaitMs).isEqualTo(8);
    assertThat(flags.node.toConfig().clusterName()).isEqualTo("c10");
    assertThat(flags.node.toConfig().clustered()).isFalse();
  }

  @Test
  void aVariableSetEmptyIsTheEmptyValue() {
    env.put("BATCHRPC_ID", "");
    assertThat(parse().id).isEmpty();
  }

  @Test
  void helpAndVersionReadNoVariable() {
    env.put("BATCHRPC_HELP", "true");
    env.put("BATCHRPC_VERSION", "true");
    Svc svc = new Svc();
    StringWriter out = new StringWriter();
    int exit = new CommandLine(svc).setDefaultValueProvider(new EnvDefaults(env::get))
        .setOut(new PrintWriter(out)).execute();
    assertThat(exit).isZero();
    assertThat(svc.ran).as("ran instead of printing help").isTrue();
    assertThat(out.toString()).isEmpty();
  }

  @Test
  void theHelpNamesEachVariableAndShowsTheDefaultInEffect() {
    env.put("BATCHRPC_MAX_WAIT_MS", "7");
    CommandLine cl = new CommandLine(new Svc()).setDefaultValueProvider(new EnvDefaults(env::get))
        .setHelpFactory(EnvDefaults.helpFactory()).setUsageHelpWidth(200);
    String help = cl.getUsageMessage();
    assertThat(help).contains("Wait. Default: 7. Env BATCHRPC_MAX_WAIT_MS.")
        .contains("An id. Env BATCHRPC_ID.")
        .contains("Env BATCHRPC_CLUSTER_NAME.")
        .doesNotContain("BATCHRPC_HELP");
    String plain = new CommandLine(new Plain()).setHelpFactory(EnvDefaults.helpFactory()).getUsageMessage();
    assertThat(plain).contains("Wait.").doesNotContain("Env ");
  }
}
