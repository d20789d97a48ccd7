package dev.batchrpc.runtime.round;

import dev.batchrpc.proto.FailureCode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The meters of one round, registered once. Tags are bounded: the round's constant name, five
 * outcomes and the failure-code names. Thread-safe (Micrometer meters are).
 */
final class RoundMetrics {

  final DistributionSummary size;
  final Timer waitTime;
  final Timer compute;
  final Counter complete;
  final Counter partial;
  final Counter failed;
  final Counter timeout;
  final Counter shrunk;
  final Counter departures;
  final Counter withdrawn;
  private final Map<FailureCode, Counter> rejected = new EnumMap<>(FailureCode.class);

  RoundMetrics(MeterRegistry registry, RoundConfig config) {
    String p = config.metricPrefix();
    String round = config.name();
    size = DistributionSummary.builder(p + ".round.size")
        .description("Arrivals per closed round")
        .tag("round", round)
        .register(registry);
    waitTime = Timer.builder(p + ".round.wait")
        .description("Time from a round's first arrival to its close")
        .tag("round", round)
        .register(registry);
    compute = Timer.builder(p + ".round.compute")
        .description("Time a round's batch computation ran on the worker")
        .tag("round", round)
        .register(registry);
    complete = outcome(registry, p, round, "complete");
    partial = outcome(registry, p, round, "partial");
    failed = outcome(registry, p, round, "failed");
    timeout = outcome(registry, p, round, "timeout");
    shrunk = outcome(registry, p, round, "shrunk");
    departures = Counter.builder(p + ".round.departures")
        .description("Participants that left the rounds (node left the cluster, deregistered, stopped answering)")
        .tag("round", round)
        .register(registry);
    withdrawn = Counter.builder(p + ".round.withdrawn")
        .description("Requests taken back from an open round by callers that gave up (cancelled, deadline "
            + "passed, connection closed)")
        .tag("round", round)
        .register(registry);
    for (FailureCode code : FailureCode.values()) {
      rejected.put(code, Counter.builder(p + ".round.rejected")
          .description("Requests refused before joining a round, by failure code")
          .tag("round", round)
          .tag("reason", code.name())
          .register(registry));
    }
  }

  private static Counter outcome(MeterRegistry registry, String prefix, String round, String outcome) {
    return Counter.builder(prefix + ".rounds")
        .description("Closed rounds by outcome")
        .tag("round", round)
        .tag("outcome", outcome)
        .register(registry);
  }

  void rejected(FailureCode code) {
    rejected.get(code).increment();
  }

  void waited(long nanos) {
    waitTime.record(nanos, TimeUnit.NANOSECONDS);
  }
}
