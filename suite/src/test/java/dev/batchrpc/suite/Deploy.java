package dev.batchrpc.suite;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository root (the deployment files' home) from the test's working directory. */
final class Deploy {

  private Deploy() {
  }

  /** The directory holding docker-compose.yml and deploy/ (surefire runs in suite/). */
  static Path root() {
    Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    for (Path p = dir; p != null; p = p.getParent()) {
      if (Files.isDirectory(p.resolve("deploy")) && Files.isRegularFile(p.resolve("pom.xml"))
          && Files.isDirectory(p.resolve("suite"))) {
        return p;
      }
    }
    throw new IllegalStateException("repository root not found above " + dir);
  }
}
