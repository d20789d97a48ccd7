package dev.batchrpc.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * One timer for a client's calls: a call not answered in time expires (once, never early), an
 * answered one never does, and answered calls do not pile up behind one that waits long.
 */
class DeadlinesTest {

  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() {
    vertx.close().await();
  }

  private static void waitFor(java.util.function.BooleanSupplier done) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!done.getAsBoolean()) {
      assertThat(System.nanoTime() - end).as("waited 10 s").isNegative();
      Thread.sleep(5);
    }
  }

  @Test
  void unansweredCallsExpireInOrderNotBeforeTheirTimeAndAnsweredOnesNever() throws Exception {
    Deadlines d = new Deadlines(vertx, 150);
    List<String> expired = new CopyOnWriteArrayList<>();
    List<Long> lateByNanos = new CopyOnWriteArrayList<>();
    long t0 = System.nanoTime();
    d.add(() -> {
      expired.add("a");
      lateByNanos.add(System.nanoTime() - t0 - TimeUnit.MILLISECONDS.toNanos(150));
    });
    d.add(() -> expired.add("b")).cancel();
    Thread.sleep(60);
    long t1 = System.nanoTime();
    d.add(() -> {
      expired.add("c");
      lateByNanos.add(System.nanoTime() - t1 - TimeUnit.MILLISECONDS.toNanos(150));
    });
    waitFor(() -> expired.size() == 2);
    Thread.sleep(200);
    assertThat(expired).containsExactly("a", "c");
    assertThat(lateByNanos).allSatisfy(late -> assertThat(late).as("expired before its timeout").isNotNegative());
  }

  @Test
  void answeredCallsBehindOneThatWaitsAreDroppedNotHeld() throws Exception {
    Deadlines d = new Deadlines(vertx, 60_000);
    List<String> expired = new ArrayList<>();
    d.add(() -> expired.add("the long one"));
    for (int i = 0; i < 100_000; i++) {
      d.add(() -> expired.add("answered")).cancel();
    }
    assertThat(d.held()).as("held after 100,000 answered calls behind one waiting").isLessThan(200);
    assertThat(expired).isEmpty();
  }

  @Test
  void aClosedDeadlinesRunsNothing() throws Exception {
    Deadlines d = new Deadlines(vertx, 20);
    List<String> expired = new CopyOnWriteArrayList<>();
    d.add(() -> expired.add("a"));
    d.close();
    d.add(() -> expired.add("b"));
    Thread.sleep(150);
    assertThat(expired).isEmpty();
    assertThat(d.held()).isZero();
  }
}
