package dev.batchrpc.runtime.node;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A child process for cluster tests: a bare clustered node on 127.0.0.1 that prints
 * {@code joined} once it is a member, then lives until it is killed.
 *
 * <p>Arguments: cluster name, Hazelcast port, one seed member ({@code host:port}), member timeout
 * in seconds.
 */
public final class BareNodeMain {

  private BareNodeMain() {
  }

  public static void main(String[] args) throws Exception {
    NodeConfig config = NodeConfig.clustered(args[0], "127.0.0.1", Integer.parseInt(args[1]), List.of(args[2]))
        .withMemberTimeoutS(Integer.parseInt(args[3]));
    Nodes.start(config).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    System.out.println("joined");
    Thread.sleep(Long.MAX_VALUE);
  }
}
