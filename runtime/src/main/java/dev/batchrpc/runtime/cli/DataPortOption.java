package dev.batchrpc.runtime.cli;

import picocli.CommandLine.Option;

/**
 * Where a service's data channel listens, as a picocli mixin ({@code @Mixin DataPortOption data;}):
 * the parameter server's trainers and the agent's observers send their requests there, not on the
 * clustered event bus (which stays the control plane). {@link dev.batchrpc.runtime.data.DataChannelConfig}
 * validates the value.
 */
public final class DataPortOption {

  @Option(names = "--data-port", defaultValue = "0",
      description = "Port of the data channel on a clustered node: its clients (the ps's trainers, the "
          + "agent's observers) send their requests there (gradients and models, steps and actions), "
          + "not on the event bus (bound on --cluster-host, advertised as --public-host); 0 picks a "
          + "free port, -1 sends everything over the event bus. Default: ${DEFAULT-VALUE}.")
  int port = 0;

  /** {@code --data-port}: -1 off, 0 any free port. */
  public int port() {
    return port;
  }
}
