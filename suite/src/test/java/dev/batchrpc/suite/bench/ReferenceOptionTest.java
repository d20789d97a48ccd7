package dev.batchrpc.suite.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code --reference} without Python or without torch fails at once, naming what to install. */
class ReferenceOptionTest {

  @TempDir
  Path dir;

  @AfterEach
  void clear() {
    System.clearProperty("batchrpc.reference.python");
  }

  private String stderrOf(Object command, String... args) {
    PrintStream stderr = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    StringWriter picocliErr = new StringWriter();
    int code;
    try (PrintStream p = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      System.setErr(p);
      CommandLine cl = new CommandLine(command);
      cl.setErr(new PrintWriter(picocliErr, true));
      code = cl.execute(args);
    } finally {
      System.setErr(stderr);
    }
    assertThat(code).isEqualTo(2);
    return err.toString(StandardCharsets.UTF_8) + picocliErr;
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void aMissingPythonIsNamedWithThePackageToInstall() {
    System.setProperty("batchrpc.reference.python", dir.resolve("no-such-python3").toString());
    for (Object bench : new Object[] {new PsBench(), new RlBench()}) {
      String err = stderrOf(bench, "--reference", "--out", dir.toString());
      assertThat(err).contains("--reference").contains("no-such-python3").contains("apt-get install -y python3-torch");
    }
    assertThat(dir.toFile().list()).isEmpty(); // nothing ran, nothing written
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void aPythonWithoutTorchIsNamedWithThePackageToInstall() throws Exception {
    // a "python" that cannot import torch: a shell script failing as Python would
    Path fake = dir.resolve("python-without-torch");
    Files.writeString(fake, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n");
    assertThat(fake.toFile().setExecutable(true)).isTrue();
    System.setProperty("batchrpc.reference.python", fake.toString());
    String err = stderrOf(new PsBench(), "--reference", "--out", dir.resolve("out").toString());
    assertThat(err).contains("cannot import torch").contains("No module named 'torch'")
        .contains("apt-get install -y python3-torch");
  }
}
