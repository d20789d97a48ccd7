package dev.batchrpc.runtime.testing;

import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * A child-JVM program for the out-of-memory tests: allocates on a Vert.x event loop until the heap
 * is exhausted while {@code main} waits forever, as a service whose event loop runs out of memory.
 * With {@code -XX:+ExitOnOutOfMemoryError} the JVM exits (code 3); without, Netty logs the error,
 * the loop and the JVM run on, and the program prints {@code survived OutOfMemoryError}.
 */
public final class OomMain {

  private OomMain() {
  }

  public static void main(String[] args) throws InterruptedException {
    Vertx vertx = Vertx.vertx();
    vertx.runOnContext(v -> {
      System.out.println("allocating on " + Thread.currentThread().getName());
      List<long[]> hog = new ArrayList<>();
      try {
        while (true) {
          hog.add(new long[128 * 1024]); // 1 MiB a time, all kept
        }
      } catch (OutOfMemoryError e) {
        int held = hog.size();
        hog.clear();
        System.out.println("survived OutOfMemoryError on " + Thread.currentThread().getName() + " after "
            + held + " MiB");
        throw e;
      }
    });
    new CountDownLatch(1).await(); // main waits forever: only the JVM's own exit ends this program
  }
}
