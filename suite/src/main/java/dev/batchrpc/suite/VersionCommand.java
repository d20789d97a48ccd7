package dev.batchrpc.suite;

import dev.batchrpc.compute.Backends;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code batch-rpc version}: what this build is and what it runs on. */
@Command(name = "version", description = "Print the version, the Java runtime and the compute backends found.")
public final class VersionCommand implements Runnable {

  @picocli.CommandLine.Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Override
  public void run() {
    for (String line : lines()) {
      System.out.println(line);
    }
  }

  static List<String> lines() {
    String version = Main.class.getPackage().getImplementationVersion();
    return List.of(
        "batch-rpc " + (version == null ? "(development build)" : version),
        "java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + "), "
            + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
            + Runtime.getRuntime().availableProcessors() + " cpus",
        "compute: " + Backends.probeReport());
  }

  /** Supplies {@code --version}. */
  public static final class Provider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return lines().toArray(String[]::new);
    }
  }
}
