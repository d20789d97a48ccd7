package dev.batchrpc.runtime.cli;

import picocli.CommandLine.Option;

/**
 * Where a service serves gRPC, as a picocli mixin ({@code @Mixin GrpcOptions grpc;}): for clients
 * that are not on the JVM (a Python trainer or observer). The service's config validates the values
 * (it is also built without a command line).
 */
public final class GrpcOptions {

  @Option(names = "--grpc-port", defaultValue = "-1",
      description = "gRPC port for clients off the JVM (e.g. Python); 0 picks a free port, -1 serves no gRPC. "
          + "Default: ${DEFAULT-VALUE}.")
  int port = -1;

  @Option(names = "--grpc-host", defaultValue = "127.0.0.1",
      description = "Address the gRPC server binds (loopback unless set; containers: 0.0.0.0). "
          + "Default: ${DEFAULT-VALUE}.")
  String host = "127.0.0.1";

  /** {@code --grpc-port}: -1 off, 0 any free port. */
  public int port() {
    return port;
  }

  /** {@code --grpc-host}. */
  public String host() {
    return host;
  }
}
