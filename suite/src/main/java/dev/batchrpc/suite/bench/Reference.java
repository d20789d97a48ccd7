package dev.batchrpc.suite.bench;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Runs one of the PyTorch reference programs of {@code tools/reference/} (the tutorial's two
 * programs, written in PyTorch) with Debian's Python and torch, for the benches' {@code --reference}.
 * Each prints one JSON line per measurement; everything else it prints goes to a log.
 */
final class Reference {

  /** Debian's Python: the pyenv python3 first on PATH has no torch. */
  static final String DEFAULT_PYTHON = "/usr/bin/python3";

  private static final String INSTALL = "apt-get install -y python3-torch";

  private Reference() {
  }

  /**
   * The Python to run: the system property {@code batchrpc.reference.python}, else the environment
   * variable {@code BATCHRPC_REFERENCE_PYTHON}, else Debian's.
   */
  static String python() {
    String p = System.getProperty("batchrpc.reference.python", System.getenv("BATCHRPC_REFERENCE_PYTHON"));
    return p == null || p.isBlank() ? DEFAULT_PYTHON : p;
  }

  /**
   * Checks that the Python and its torch are there and finds {@code script}; fails with what to
   * install or where the script should be.
   */
  static Path require(String script) throws IOException, InterruptedException {
    String python = python();
    if (!new File(python).canExecute()) {
      throw new IllegalStateException("--reference needs Debian's Python 3 with PyTorch, and " + python
          + " is missing: install it with '" + INSTALL + "' (it brings python3)");
    }
    Process p = new ProcessBuilder(python, "-c", "import torch, torch.distributed.rpc; print(torch.__version__)")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      String last = out.lines().reduce((a, b) -> b).orElse("");
      throw new IllegalStateException("--reference needs PyTorch in " + python + ", which cannot import torch ("
          + last + "): install it with '" + INSTALL + "'");
    }
    Path found = find(script);
    if (found == null) {
      throw new IllegalStateException("--reference: tools/reference/" + script + " not found above "
          + System.getProperty("user.dir") + " or the batch-rpc jar; run from the repository");
    }
    return found;
  }

  /** tools/reference/{@code script} above the working directory or this code's jar. */
  private static Path find(String script) {
    List<Path> starts = new ArrayList<>();
    starts.add(Path.of(System.getProperty("user.dir")).toAbsolutePath());
    try {
      starts.add(Path.of(Reference.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
    } catch (URISyntaxException | RuntimeException e) {
      // no code source: the working directory only
    }
    for (Path start : starts) {
      for (Path d = start; d != null; d = d.getParent()) {
        Path f = d.resolve("tools").resolve("reference").resolve(script);
        if (Files.isRegularFile(f)) {
          return f;
        }
      }
    }
    return null;
  }

  /**
   * Runs {@code script args...}, hands each JSON line to {@code onResult} as it comes and returns
   * them all; fails, quoting the log's last lines, if the program fails or prints no result.
   */
  static List<JsonObject> run(Path script, List<String> args, long timeoutS, Consumer<JsonObject> onResult)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(python(), script.toString()));
    cmd.addAll(args);
    Path log = Files.createTempFile("batchrpc-reference-", ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
    // one BLAS/OpenMP thread per process unless the caller chose otherwise (the script's --threads)
    pb.environment().putIfAbsent("OPENBLAS_NUM_THREADS", "1");
    Process p = pb.start();
    // readLine below waits for the program's end: a hung reference is ended at the deadline
    java.util.concurrent.CompletableFuture.delayedExecutor(timeoutS, TimeUnit.SECONDS).execute(() -> {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    });
    List<JsonObject> results = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        Files.writeString(log, line + System.lineSeparator(), java.nio.file.StandardOpenOption.APPEND);
        if (line.startsWith("{")) {
          try {
            JsonObject j = new JsonObject(line);
            results.add(j);
            onResult.accept(j);
          } catch (DecodeException e) {
            // not a result line
          }
        }
      }
    }
    if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("the PyTorch reference ran over " + timeoutS + " s; log: " + log);
    }
    if (p.exitValue() != 0 || results.isEmpty()) {
      StringBuilder b = new StringBuilder("the PyTorch reference (" + String.join(" ", cmd) + ") exited with code "
          + p.exitValue() + (results.isEmpty() ? " and no result" : "") + "; log: " + log + "; its last lines:");
      List<String> lines = new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList();
      for (String l : lines.subList(Math.max(0, lines.size() - ChildWatch.TAIL_LINES), lines.size())) {
        b.append(System.lineSeparator()).append("  | ").append(l);
      }
      throw new IllegalStateException(b.toString());
    }
    return results;
  }
}
