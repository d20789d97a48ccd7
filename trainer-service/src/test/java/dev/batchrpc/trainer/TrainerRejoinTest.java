package dev.batchrpc.trainer;

import static dev.batchrpc.runtime.net.Ports.freePort;
import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static dev.batchrpc.runtime.testing.LoopbackNodes.member;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
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
 * Issue 11, row 3: a trainer process frozen (SIGSTOP) for longer than the member timeout is
 * dropped from the rounds; after SIGCONT it finds itself alone in a cluster of its own, is merged
 * back (Hazelcast's split-brain check, every {@link Nodes#MERGE_CHECK_S} s), registers again and
 * finishes its batches, exit 0, with no restart. (Its readiness while out of the rounds:
 * {@link ReadinessPsClientTest}.)
 */
@ExtendWith(LoopbackNodes.class)
class TrainerRejoinTest {

  private static final int[] LAYERS = {16, 32, 4};
  private static final int MEMBER_TIMEOUT_S = 3;
  private static final int BATCHES = 300;
  private final List<Node> nodes = new ArrayList<>();
  private final List<ChildJvm> children = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("rejoin");

  @AfterEach
  void stopEverything() throws Exception {
    LoopbackNodes.resumeAndClose(children);
    LoopbackNodes.closeQuietly(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 60);
  }

  private Node node(int port, List<String> members) throws Exception {
    return LoopbackNodes.start(cluster, port, members, MEMBER_TIMEOUT_S, nodes);
  }


  private static Tensor gradient() {
    int n = ModelSpec.mlp(LAYERS).parameterCount();
    ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      b.putFloat(0.001f);
    }
    return Tensor.newBuilder().addShape(n).setData(ByteString.copyFrom(b.array())).build();
  }

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void aTrainerFrozenPastTheMemberTimeoutRejoinsTheRoundsAndFinishesWithoutARestart() throws Exception {
    int psPort = freePort();
    Node psNode = node(psPort, List.of());
    PsConfig config = PsConfig.builder(2, ModelSpec.mlp(LAYERS)).maxWait(Duration.ofSeconds(30)).lr(0.05f)
        .seed(1).grpcHost(LOOPBACK).build();
    ParameterServerVerticle v = new ParameterServerVerticle(config, psNode.registry());
    ParameterServer ps = await(psNode.vertx().deployVerticle(v).compose(id -> v.server()));
    // Trainer "a" lives in this JVM on a node of its own (the cluster the victim comes back to
    // has two members), and paces the rounds: about 50 a second.
    Node aNode = node(freePort(), List.of(member(psPort)));
    PsClient a = PsClient.eventBus(aNode.vertx(), 60_000);
    await(TrainerCommand.waitForServer(aNode.vertx(), a, "a", System.nanoTime() + 30_000_000_000L));

    List<String> cmd = ChildJvm.command(TrainerCommand.class, "-D" + LoopbackNodes.JOIN_PAUSE + "=0");
    ChildJvm victim = ChildJvm.start("victim", cmd, List.of("--clustered", "--cluster-name", cluster,
        "--cluster-members", member(psPort), "--cluster-host", LOOPBACK, "--cluster-port",
        String.valueOf(freePort()), "--member-timeout-s", String.valueOf(MEMBER_TIMEOUT_S), "--metrics-port", "0",
        "--id", "victim", "--batches", String.valueOf(BATCHES), "--batch-size", "10", "--layers", "16,32,4",
        "--seed", "5", "--timeout-ms", "60000", "--retry-timeout-s", "60", "--progress-every", "0"), Map.of());
    children.add(victim);
    int victimOps = victim.awaitMetricsPort(60_000);

    AtomicLong version = new AtomicLong();
    // When a round last had both trainers in it.
    AtomicLong lastFullRound = new AtomicLong();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> aFailed = new AtomicReference<>();
    Thread pacer = new Thread(() -> {
      try {
        while (!stop.get()) {
          ModelReply r = LoopbackNodes.await(a.updateAndFetch(UpdateRequest.newBuilder().setParticipantId("a")
              .setModelVersion(version.get()).setGradients(gradient()).build()), 60);
          version.set(r.getModelVersion());
          if (r.getRoundSize() == 2) {
            lastFullRound.set(System.nanoTime());
          }
          Thread.sleep(20);
        }
      } catch (Throwable e) {
        aFailed.set(e);
      }
    }, "trainer-a");
    pacer.setDaemon(true);
    pacer.start();

    LoopbackNodes.waitUntil("the victim in the rounds", 60, () -> lastFullRound.get() > 0 && version.get() >= 20);
    assertThat(LoopbackNodes.get(victimOps, "/health/ready")).contains("\"status\":\"UP\"");
    LoopbackNodes.signal(victim.pid(), "STOP");
    long stopped = System.nanoTime();
    LoopbackNodes.waitUntil("the victim dropped", 30, () -> await(ps.expectedTrainers()) == 1);
    long droppedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopped);
    long versionWhileOut = version.get();
    // Frozen well past the member timeout: on its side the others have been silent too long.
    Thread.sleep(TimeUnit.SECONDS.toMillis(MEMBER_TIMEOUT_S) + 2_000);
    assertThat(version.get()).as("the rounds go on without the frozen trainer").isGreaterThan(versionWhileOut);
    LoopbackNodes.signal(victim.pid(), "CONT");
    long resumed = System.nanoTime();

    String down = null;
    while (lastFullRound.get() < resumed) {
      // The outage may be shorter than a poll (ReadinessPsClientTest checks the transitions).
      String ready = LoopbackNodes.get(victimOps, "/health/ready");
      if (ready.contains("\"status\":\"DOWN\"")) {
        down = ready;
      }
      assertThat(System.nanoTime() - resumed).as("back in a full round within 40 s of SIGCONT")
          .isLessThan(TimeUnit.SECONDS.toNanos(40));
      Thread.sleep(50);
    }
    long rejoinedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - resumed);
    int exit = victim.awaitExit(60_000);
    stop.set(true);
    pacer.join(70_000);
    System.out.printf("[rejoin-test] trainer SIGSTOPped %.1f s (member timeout %d s): dropped %d ms after the "
            + "stop, in a full round again %d ms after SIGCONT, exit %d%n",
        (resumed - stopped) / 1e9, MEMBER_TIMEOUT_S, droppedMs, rejoinedMs, exit);
    assertThat(exit).as(victim.output()).isZero();
    assertThat(victim.output()).contains("done: " + BATCHES + " rounds").contains("parameter server lost")
        .contains("parameter server back");
    if (down != null) {
      assertThat(down).as("/health/ready while out of the rounds")
          .contains("\"rounds\":\"DOWN\"").contains("not in the parameter server's rounds");
    }
    assertThat(aFailed.get()).isNull();
  }
}
