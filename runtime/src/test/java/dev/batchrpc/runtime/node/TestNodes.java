package dev.batchrpc.runtime.node;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;

/** Helpers of the clustered-node tests of this package. */
final class TestNodes {

  static final String LOOPBACK = "127.0.0.1";

  private TestNodes() {
  }

  /** A port free on 127.0.0.1 just now (for a Hazelcast member that must not auto-increment). */
  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
      return s.getLocalPort();
    }
  }

  /** Waits for {@code f}: null when it succeeded, else its failure. */
  static Throwable outcome(Future<?> f, long timeoutMs) throws Exception {
    Promise<Throwable> p = Promise.promise();
    f.onComplete(ar -> p.complete(ar.succeeded() ? null : ar.cause()));
    return p.future().await(timeoutMs, TimeUnit.MILLISECONDS);
  }
}
