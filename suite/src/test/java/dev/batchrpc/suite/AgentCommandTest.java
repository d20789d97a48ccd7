package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code batch-rpc agent} without {@code --clustered}: the suite deploys its observers beside it
 * ({@link InProcessObservers}); the agent module's own command has none to deploy and says so.
 */
class AgentCommandTest {

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theSuitesAgentRunsItsObserversInProcess() {
    CommandRun run = CommandRun.of("agent", "--device", "cpu", "--metrics-port", "0",
        "--observers", "3", "--episodes", "2", "--steps", "15");
    assertThat(run.exit()).as(run.out()).isZero();
    assertThat(run.out())
        .contains("agent: 3 observer(s), mode batch, 2 episode(s) x 15 steps, seed 543")
        .contains("episode   1  running reward")
        .contains("episode   2  running reward")
        // 2 episodes x 15 steps x 3 observers
        .contains("(90 requests)");
  }

  @Test
  void anAgentCommandWithoutLocalObserversNeedsClustered() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit = new CommandLine(new AgentCommand()).setErr(new PrintWriter(err, true))
        .execute("--observers", "2", "--metrics-port", "0");
    assertThat(exit).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("this agent has no observers to run in its own process: add --clustered");
  }
}
