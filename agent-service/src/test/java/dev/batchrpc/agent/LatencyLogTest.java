package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The latency log: exact up to its capacity, a bounded uniform sample beyond it. */
class LatencyLogTest {

  @Test
  void upToTheCapacityThePercentilesAreExact() {
    LatencyLog log = new LatencyLog(1000);
    for (int i = 1000; i >= 1; i--) {
      log.add(i * 1000L);
    }
    LatencyLog.Summary s = log.drain();
    assertThat(s.count()).isEqualTo(1000);
    assertThat(s.p50Us()).isEqualTo(500);
    assertThat(s.p90Us()).isEqualTo(900);
    assertThat(s.p99Us()).isEqualTo(990);
    assertThat(s.maxUs()).isEqualTo(1000);
    assertThat(log.drain()).isEqualTo(LatencyLog.Summary.EMPTY);
  }

  @Test
  void beyondTheCapacityMemoryStaysBoundedAndThePercentilesStayClose() {
    LatencyLog log = new LatencyLog(4096);
    int n = 1_000_000;
    for (int i = 0; i < n; i++) {
      // a shuffled order, so a biased sample (first or last values) would show
      long v = (i * 7919L) % n;
      log.add(v * 1000L);
    }
    assertThat(log.retained()).isEqualTo(4096);
    assertThat(log.footprint()).isEqualTo(4096);
    LatencyLog.Summary s = log.drain();
    assertThat(s.count()).isEqualTo(n);
    // a uniform sample of 4096 of 0..n-1 puts each percentile within about 2 % of n
    assertThat(s.p50Us()).isCloseTo(0.50 * n, within(0.03 * n));
    assertThat(s.p90Us()).isCloseTo(0.90 * n, within(0.03 * n));
    assertThat(s.p99Us()).isCloseTo(0.99 * n, within(0.02 * n));
    assertThat(s.maxUs()).isEqualTo(n - 1);
    // after a drain the log starts over, exact again
    log.add(5000);
    assertThat(log.drain()).isEqualTo(new LatencyLog.Summary(1, 5, 5, 5, 5));
  }
}
