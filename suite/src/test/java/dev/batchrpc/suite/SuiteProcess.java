package dev.batchrpc.suite;

import dev.batchrpc.runtime.process.ChildJvm;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * One {@code batch-rpc} command as a child OS process (the test classpath's {@link Main}, run as the
 * launcher runs the jar), with its output collected line by line. Tests close it in
 * {@code @AfterEach}.
 */
final class SuiteProcess {

  private SuiteProcess() {
  }

  /**
   * Starts {@code batch-rpc args...} with exactly the given {@code BATCHRPC_*} environment (the
   * parent's {@code BATCHRPC_*} variables are removed, so the test's settings are the only ones).
   */
  static ChildJvm start(String name, List<String> args, Map<String, String> env) throws IOException {
    return ChildJvm.start(name, ChildJvm.command(Main.class, "-XX:TieredStopAtLevel=1", "-Xshare:auto"), args, env);
  }
}
