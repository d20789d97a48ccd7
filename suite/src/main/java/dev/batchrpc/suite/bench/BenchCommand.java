package dev.batchrpc.suite.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code batch-rpc bench}: the end-to-end benchmarks (tables on stdout, CSV files). */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = {"End-to-end benchmarks. Each prints progress lines and a table, and writes CSV.", ""},
    commandListHeading = "%nBenchmarks:%n",
    subcommands = {PsBench.class, RlBench.class, SoakBench.class, ChaosBench.class})
public final class BenchCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
