package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.net.TlsConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code batch-rpc certs} writes the files the --tls-* flags take; bad input exits 2 naming the flag. */
class CertsCommandTest {

  @Test
  void writesTheCaAndEachNamedNodeThenReusesTheCa(@TempDir Path dir) throws Exception {
    Path out = dir.resolve("certs");
    assertThat(Main.commandLine().execute("certs", "--out", out.toString(), "--name", "ps,trainer",
        "--hosts", "127.0.0.1,ps.batch-rpc.svc")).isZero();
    assertThat(out).isDirectoryContaining("glob:**/ca.pem").isDirectoryContaining("glob:**/ca-key.pem")
        .isDirectoryContaining("glob:**/ps.pem").isDirectoryContaining("glob:**/ps-key.pem")
        .isDirectoryContaining("glob:**/trainer.pem").isDirectoryContaining("glob:**/trainer-key.pem");
    String ca = Files.readString(out.resolve("ca.pem"));

    assertThat(Main.commandLine().execute("certs", "--out", out.toString(), "--name", "observer-0")).isZero();
    assertThat(out).isDirectoryContaining("glob:**/observer-0.pem");
    assertThat(Files.readString(out.resolve("ca.pem"))).as("the CA is reused").isEqualTo(ca);

    // The node's files are what the --tls-* flags accept.
    assertThat(TlsConfig.of(out.resolve("ps.pem").toString(), out.resolve("ps-key.pem").toString(),
        out.resolve("ca.pem").toString(), "required")).isNotNull();
  }

  @Test
  void badInputExitsWithUsageErrorNamingTheFlag(@TempDir Path dir) {
    StringWriter err = new StringWriter();
    CommandLine cl = Main.commandLine().setErr(new PrintWriter(err));
    assertThat(cl.execute("certs", "--out", dir.toString(), "--hosts", "not a host")).isEqualTo(2);
    assertThat(err.toString()).contains("--hosts");
    assertThat(dir).isEmptyDirectory();
  }
}
