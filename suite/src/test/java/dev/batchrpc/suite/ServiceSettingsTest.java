package dev.batchrpc.suite;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Invalid settings of every service command, through {@code batch-rpc}'s own command line in this
 * JVM: each exits with status 2 before starting anything, with the same two lines: a message naming
 * the flag and where the options are listed.
 */
class ServiceSettingsTest {

  /** One invalid setting: the arguments and the flag the message must name. */
  record Case(String flag, String... args) {
  }

  private static final List<Case> CASES = List.of(
      new Case("--trainers", "ps", "--trainers", "0"),
      new Case("--trainers", "ps", "--trainers", "many"),
      new Case("--lr", "ps", "--lr", "-1"),
      new Case("--momentum", "ps", "--momentum", "1"),
      new Case("--participants", "ps", "--trainers", "2", "--participants", "t1,t1"),
      new Case("--max-wait-ms", "ps", "--max-wait-ms", "-5"),
      new Case("--partial-policy", "ps", "--partial-policy", "sometimes"),
      new Case("--layers", "ps", "--layers", "784"),
      new Case("--grpc-port", "ps", "--grpc-port", "70000"),
      new Case("--device", "ps", "--device", "tpu"),
      new Case("--cluster-port", "ps", "--cluster-port", "0"),
      new Case("--member-timeout-s", "ps", "--member-timeout-s", "1"),
      new Case("--metrics-port", "ps", "--metrics-port", "-2"),
      new Case("--batches", "trainer", "--batches", "0"),
      new Case("--layers", "trainer", "--layers", "8,x"),
      new Case("--id", "trainer", "--id", "no spaces"),
      new Case("--cluster-members", "trainer", "--cluster-members", "10.0.0.1:0"),
      new Case("--retry-timeout-s", "trainer", "--retry-timeout-s", "-1"),
      new Case("--metrics-port", "trainer", "--metrics-port", "65536"),
      new Case("--observers", "agent", "--observers", "0"),
      new Case("--steps", "agent", "--steps", "0"),
      new Case("--steps", "agent", "--steps", "1000001"),
      new Case("--episodes", "agent", "--episodes", "0"),
      new Case("--gamma", "agent", "--gamma", "1.5"),
      new Case("--device", "agent", "--device", "gpu"),
      new Case("--mode", "agent", "--mode", "fast"),
      new Case("--episode-timeout-ms", "agent", "--episode-timeout-ms", "0"),
      new Case("--cluster-port", "agent", "--cluster-port", "70000"),
      new Case("--member-timeout-s", "agent", "--member-timeout-s", "601"),
      new Case("--index", "observer", "--clustered", "--index", "-2"),
      new Case("--id", "observer", "--clustered", "--id", "a/b"),
      new Case("--action-timeout-ms", "observer", "--clustered", "--action-timeout-ms", "0"),
      new Case("--member-timeout-s", "observer", "--clustered", "--member-timeout-s", "1"),
      new Case("--cluster-name", "observer", "--clustered", "--cluster-name", "no spaces"),
      new Case("--clustered", "observer"),
      new Case("--device", "demo", "--device", "tpu"),
      new Case("--rounds", "demo", "--rounds", "0"),
      new Case("--metrics-port", "demo", "--metrics-port", "70000"),
      new Case("--max-connections", "ps", "--max-connections", "0"),
      new Case("--idle-timeout-s", "agent", "--idle-timeout-s", "-1"),
      new Case("--header-timeout-s", "trainer", "--header-timeout-s", "0"));

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void everyInvalidSettingExitsWithStatusTwoNamingItsFlag() {
    SoftAssertions softly = new SoftAssertions();
    for (Case c : CASES) {
      StringWriter err = new StringWriter();
      ByteArrayOutputStream stderr = new ByteArrayOutputStream();
      PrintStream original = System.err;
      int exit;
      System.setErr(new PrintStream(stderr, true, StandardCharsets.UTF_8));
      try {
        exit = Main.commandLine().setErr(new PrintWriter(err, true)).execute(c.args());
      } finally {
        System.setErr(original);
      }
      String what = String.join(" ", c.args());
      softly.assertThat(exit).as("exit status of '%s': %s", what, err).isEqualTo(2);
      // One behaviour for every command: the message on picocli's writer, then where the options are.
      String command = "batch-rpc " + c.args()[0];
      List<String> lines = err.toString().lines().toList();
      softly.assertThat(lines).as("message of '%s'", what).hasSize(2);
      softly.assertThat(lines.get(0)).as("message of '%s'", what).startsWith(command + ": ").contains(c.flag());
      softly.assertThat(lines.get(1)).isEqualTo("See '" + command + " --help' for the options.");
      softly.assertThat(stderr.toString(StandardCharsets.UTF_8)).as("nothing else on stderr for '%s'", what)
          .isEmpty();
    }
    softly.assertAll();
  }
}
