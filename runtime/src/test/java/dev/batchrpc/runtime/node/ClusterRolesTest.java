package dev.batchrpc.runtime.node;

import static dev.batchrpc.runtime.testing.LoopbackNodes.await;
import static dev.batchrpc.runtime.testing.LoopbackNodes.outcome;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** One ps (one agent) per cluster: a second refuses to start naming the first; the record dies with its member. */
@ExtendWith(LoopbackNodes.class)
class ClusterRolesTest {

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void aSecondOwnerIsRefusedNamingTheFirstUntilTheFirstIsGone() throws Exception {
    String cluster = LoopbackNodes.clusterName("roles");
    int portA = Ports.freePort();
    int portB = Ports.freePort();
    int portC = Ports.freePort();
    Node a = await(Nodes.start(LoopbackNodes.config(cluster, portA, List.of())), 60);
    Node b = await(Nodes.start(LoopbackNodes.config(cluster, portB, List.of(LoopbackNodes.member(a)))), 60);
    Node c = await(Nodes.start(LoopbackNodes.config(cluster, portC, List.of(LoopbackNodes.member(a)))), 60);
    try {
      assertThat(outcome(ClusterRoles.claim(a, "ps", "ps A"), 20_000)).isNull();
      // claiming again is idempotent; another role is free
      assertThat(outcome(ClusterRoles.claim(a, "ps", "ps A"), 20_000)).isNull();
      assertThat(outcome(ClusterRoles.claim(b, "agent", "agent B"), 20_000)).isNull();
      Throwable refused = outcome(ClusterRoles.claim(b, "ps", "ps B"), 20_000);
      assertThat(refused).isInstanceOf(IllegalStateException.class)
          .hasMessage("another ps owns the rounds of cluster '" + cluster + "': ps A (node " + a.nodeId()
              + "); stop it, or start this one with another --cluster-name");
      // a clean stop releases the role at once
      await(ClusterRoles.release(a, "ps", "ps A"), 20);
      assertThat(outcome(ClusterRoles.claim(b, "ps", "ps B"), 20_000)).isNull();
      // a crashed owner's record is stale once its member is gone: the next one takes over
      LoopbackNodes.crash(b);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (c.members().contains(b.nodeId()) && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      assertThat(outcome(ClusterRoles.claim(c, "ps", "ps C"), 20_000)).isNull();
      assertThat(outcome(ClusterRoles.claim(a, "ps", "ps A"), 20_000)).hasMessageContaining("ps C (node " + c.nodeId());
    } finally {
      for (Node n : List.of(c, b, a)) {
        outcome(n.close(), 20_000);
      }
    }
  }
}
