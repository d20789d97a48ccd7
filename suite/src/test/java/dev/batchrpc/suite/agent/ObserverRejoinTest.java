package dev.batchrpc.suite.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 11, row 4: an observer process frozen (SIGSTOP) for longer than the member timeout is
 * dropped from the episodes; after SIGCONT it is merged back into the cluster, registers again and
 * is back in the agent's episodes, with no restart; ready again once registered.
 */
@ExtendWith(LoopbackNodes.class)
class ObserverRejoinTest {

  private static final long SEED = 5;
  private static final int MEMBER_TIMEOUT_S = 3;
  private final List<Node> nodes = new ArrayList<>();
  private final List<ChildJvm> children = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("observer-rejoin");

  @AfterEach
  void stopEverything() throws Exception {
    LoopbackNodes.resumeAndClose(children);
    LoopbackNodes.closeQuietly(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 90);
  }

  private Node node(int port, List<String> members) throws Exception {
    return LoopbackNodes.start(cluster, port, members, MEMBER_TIMEOUT_S, nodes);
  }


  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void anObserverFrozenPastTheMemberTimeoutIsBackInTheEpisodesWithoutARestart() throws Exception {
    int agentPort = Ports.freePort();
    Node agentNode = node(agentPort, List.of());
    String seed = LoopbackNodes.member(agentPort);
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, SEED).withRoundWait(30_000, true);
    AgentVerticle agent = new AgentVerticle(config, agentNode.registry());
    await(agentNode.vertx().deployVerticle(agent));
    await(node(Ports.freePort(), List.of(seed)).vertx().deployVerticle(new ObserverVerticle(ObserverConfig.of(0, SEED))));
    ChildJvm victim = ChildJvm.start("observer-1", ChildJvm.command(dev.batchrpc.suite.Main.class,
        "-D" + LoopbackNodes.JOIN_PAUSE + "=0"), List.of("observer", "--clustered", "--cluster-name", cluster,
        "--cluster-members", seed, "--cluster-host", LoopbackNodes.LOOPBACK, "--cluster-port",
        String.valueOf(Ports.freePort()), "--member-timeout-s", String.valueOf(MEMBER_TIMEOUT_S),
        "--metrics-port", "0", "--index", "1", "--seed", String.valueOf(SEED)), Map.of());
    children.add(victim);
    int victimOps = victim.awaitMetricsPort(60_000);
    await(agent.observersReady());

    // Episodes back to back; when the last one with both observers ended.
    AtomicLong lastWithBoth = new AtomicLong();
    AtomicLong episodes = new AtomicLong();
    AtomicLong withOne = new AtomicLong();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    Thread runner = new Thread(() -> {
      try {
        while (!stop.get()) {
          EpisodeResult r = LoopbackNodes.await(agent.runEpisode(50), 60);
          episodes.incrementAndGet();
          if (r.observers() == 2) {
            lastWithBoth.set(System.nanoTime());
          } else {
            withOne.incrementAndGet();
          }
        }
      } catch (Throwable e) {
        failed.set(e);
      }
    }, "episodes");
    runner.setDaemon(true);
    runner.start();

    LoopbackNodes.waitUntil("episodes with both observers", 60, () -> lastWithBoth.get() > 0 && episodes.get() >= 3);
    assertThat(LoopbackNodes.get(victimOps, "/health/ready")).contains("\"status\":\"UP\"");
    LoopbackNodes.signal(victim.pid(), "STOP");
    long stopped = System.nanoTime();
    LoopbackNodes.waitUntil("episodes without the frozen observer", 60, () -> withOne.get() >= 2);
    Thread.sleep(Math.max(0, TimeUnit.SECONDS.toMillis(MEMBER_TIMEOUT_S) + 2_000
        - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopped)));
    LoopbackNodes.signal(victim.pid(), "CONT");
    long resumed = System.nanoTime();

    String down = null;
    while (lastWithBoth.get() < resumed) {
      String ready = LoopbackNodes.get(victimOps, "/health/ready");
      if (ready.contains("\"status\":\"DOWN\"")) {
        down = ready;
      }
      assertThat(System.nanoTime() - resumed).as("back in an episode within 40 s of SIGCONT")
          .isLessThan(TimeUnit.SECONDS.toNanos(40));
      assertThat(failed.get()).isNull();
      Thread.sleep(50);
    }
    long backMs = TimeUnit.NANOSECONDS.toMillis(lastWithBoth.get() - resumed);
    stop.set(true);
    runner.join(70_000);
    System.out.printf("[rejoin-test] observer SIGSTOPped %.1f s (member timeout %d s): %d episode(s) ran "
            + "without it; an episode with it again ended %d ms after SIGCONT%n", (resumed - stopped) / 1e9,
        MEMBER_TIMEOUT_S, withOne.get(), backMs);
    assertThat(failed.get()).isNull();
    if (down != null) {
      // The gap may be shorter than a poll (AgentRestartTest checks the transitions).
      assertThat(down).as("/health/ready while not registered")
          .contains("\"agent\":\"DOWN\"").contains("not registered with an agent");
    }
    String ready = LoopbackNodes.get(victimOps, "/health/ready");
    assertThat(ready).as("ready again once registered").contains("\"status\":\"UP\"");
    assertThat(victim.process().isAlive()).as("no restart").isTrue();
  }
}
