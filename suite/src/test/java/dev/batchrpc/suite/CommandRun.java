package dev.batchrpc.suite;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * One run of the {@code batch-rpc} command in this JVM, with what it printed on standard output.
 *
 * @param exit its exit code
 * @param out its standard output
 */
record CommandRun(int exit, String out) {

  /** Runs {@code batch-rpc args...} ({@link Main#commandLine()}), capturing standard output. */
  static CommandRun of(String... args) {
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    PrintStream original = System.out;
    System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
    try {
      int exit = Main.commandLine().execute(args);
      return new CommandRun(exit, buffer.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(original);
    }
  }
}
