package dev.batchrpc.runtime.node;

import static dev.batchrpc.runtime.testing.LoopbackNodes.member;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.VertxInternals;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A node paused past the member timeout splits off and must be merged back within a couple of
 * merge checks, however many members have come and gone before (found by {@code bench chaos}: a
 * ps merged back 31 s after it resumed). Hazelcast's merge search tries every address it once knew
 * as a member, in no set order, and a dead one costs it 5 s; {@link Nodes} keeps such addresses
 * {@link Nodes#LEFT_MEMBER_ADDRESS_RETENTION_S} s instead of 4 hours. Here eight members join and
 * crash before the pause (with the old retention it took 14.9-40.0 s, with the new 1.4-5.4 s).
 */
@ExtendWith(LoopbackNodes.class)
class SplitMergeTest {

  private static final int MEMBER_TIMEOUT_S = 3;
  private static final int DEAD_MEMBERS = 8;
  private final List<Node> nodes = new ArrayList<>();
  private final List<ChildJvm> children = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("split-merge");

  @AfterEach
  void stopEverything() throws Exception {
    LoopbackNodes.resumeAndClose(children);
    LoopbackNodes.closeQuietly(nodes);
  }

  private static int members(Node n) {
    return ((HazelcastClusterManager) VertxInternals.clusterManager(n.vertx()))
        .getHazelcastInstance().getCluster().getMembers().size();
  }

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void aNodePausedPastTheMemberTimeoutIsMergedBackPromptlyAfterManyMembersCameAndWent() throws Exception {
    int seedPort = Ports.freePort();
    Node seed = LoopbackNodes.start(cluster, seedPort, List.of(), MEMBER_TIMEOUT_S, nodes);
    // The rest of the cluster is larger than the paused node, as in a deployment (two clusters of
    // one would merge in whichever direction a hash picks, and the seed has no seeds to search).
    LoopbackNodes.start(cluster, Ports.freePort(), List.of(member(seedPort)), MEMBER_TIMEOUT_S, nodes);
    ChildJvm paused = ChildJvm.start("paused node", ChildJvm.command(BareNodeMain.class,
            "-D" + LoopbackNodes.JOIN_PAUSE + "=0"),
        List.of(cluster, String.valueOf(Ports.freePort()), member(seedPort), String.valueOf(MEMBER_TIMEOUT_S)), Map.of());
    children.add(paused);
    assertThat(paused.awaitLine("joined"::equals, 60_000)).as(paused.output()).isNotNull();

    // Members come and go, as restarted trainers and observers do: the paused node sees each join,
    // then each vanish (a crash: no goodbye), so their addresses are ones it "previously knew".
    List<Node> churn = new ArrayList<>();
    for (int i = 0; i < DEAD_MEMBERS; i++) {
      churn.add(LoopbackNodes.start(cluster, Ports.freePort(), List.of(member(seedPort)), MEMBER_TIMEOUT_S, nodes));
    }
    LoopbackNodes.waitUntil("every member joined", 60, () -> members(seed) == DEAD_MEMBERS + 3);
    for (Node n : churn) {
      LoopbackNodes.crash(n);
    }
    LoopbackNodes.waitUntil("the crashed members removed", 60, () -> members(seed) == 3);
    // Past the retention of the addresses of members that left.
    Thread.sleep(TimeUnit.SECONDS.toMillis(Nodes.LEFT_MEMBER_ADDRESS_RETENTION_S + 2));

    LoopbackNodes.signal(paused.pid(), "STOP");
    LoopbackNodes.waitUntil("the paused node dropped", 30, () -> members(seed) == 2);
    Thread.sleep(TimeUnit.SECONDS.toMillis(MEMBER_TIMEOUT_S) + 1_000);
    LoopbackNodes.signal(paused.pid(), "CONT");
    long resumed = System.nanoTime();
    LoopbackNodes.waitUntil("the paused node merged back", 60, () -> members(seed) == 3);
    double mergedS = (System.nanoTime() - resumed) / 1e9;
    System.out.printf("[split-merge] merged back %.1f s after SIGCONT (%d crashed members before)%n",
        mergedS, DEAD_MEMBERS);
    // It suspects the others at once, then the next merge check (every MERGE_CHECK_S) finds the
    // seed: within two checks (1.4-5.4 s here; 14.9-40.0 s with Hazelcast's 4-hour retention).
    assertThat(mergedS).isLessThan(2 * Nodes.MERGE_CHECK_S + 2);
  }
}
