package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import io.vertx.core.Vertx;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A step round of 1,000 observers in one process, batch mode: every step is one forward pass of
 * 1,000 rows, and two runs with the same seed give the same actions and parameters.
 */
@ExtendWith(VertxExtension.class)
class AgentLoadTest {

  private static final int OBSERVERS = 1000;
  private static final int EPISODES = 2;
  private static final int STEPS = 8;
  private static final long SEED = 77;

  @Test
  @Timeout(value = 180, timeUnit = TimeUnit.SECONDS)
  void aThousandObserversStepTogetherAndTheRunIsReproducible(Vertx vertx, VertxTestContext ctx) {
    AgentConfig config = AgentConfig.of(OBSERVERS, AgentMode.BATCH, SEED);
    AgentRuns.run(vertx, config, EPISODES, STEPS)
        .compose(first -> AgentRuns.run(vertx, config, EPISODES, STEPS).map(second -> List.of(first, second)))
        .onComplete(ctx.succeeding(runs -> ctx.verify(() -> {
          AgentRuns.Run a = runs.get(0);
          AgentRuns.Run b = runs.get(1);
          int requests = OBSERVERS * EPISODES * STEPS;
          assertThat(a.exchanges()).hasSize(requests);
          assertThat(b.exchanges()).hasSize(requests);
          // one round of all 1,000 observers per step
          assertThat(a.exchanges()).allSatisfy(e -> assertThat(e.reply().getBatchSize()).isEqualTo(OBSERVERS));
          for (int i = 0; i < OBSERVERS; i++) {
            String id = config.observerIds().get(i);
            List<AgentRuns.Exchange> ea = AgentRuns.of(a.exchanges(), id);
            List<AgentRuns.Exchange> eb = AgentRuns.of(b.exchanges(), id);
            assertThat(ea).hasSize(EPISODES * STEPS);
            for (int k = 0; k < ea.size(); k++) {
              assertThat(eb.get(k).request()).as("%s exchange %d", id, k).isEqualTo(ea.get(k).request());
              assertThat(eb.get(k).reply().getAction()).as("%s exchange %d", id, k)
                  .isEqualTo(ea.get(k).reply().getAction());
            }
          }
          // the actions are not all the same (the policy samples), and the updates match
          assertThat(a.exchanges().stream().mapToInt(e -> e.reply().getAction()).distinct().count()).isEqualTo(2);
          assertThat(b.parameters()).containsExactly(a.parameters());
          assertThat(b.episodes().get(EPISODES - 1).runningReward())
              .isEqualTo(a.episodes().get(EPISODES - 1).runningReward());
          ctx.completeNow();
        })));
  }
}
