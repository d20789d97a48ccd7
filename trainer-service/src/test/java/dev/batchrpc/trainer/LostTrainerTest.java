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
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A trainer lost mid-round never hangs the round: its node leaves the cluster (Hazelcast removes a
 * member silent for {@code --member-timeout-s}), the parameter server drops it, and the open round
 * completes with the live trainers well within the configured maximum wait. Once with a clustered
 * node of this JVM closed abruptly (its Hazelcast instance terminated, no goodbye), once with a
 * trainer OS process killed with SIGKILL.
 */
@ExtendWith(LoopbackNodes.class)
class LostTrainerTest {

  private static final int[] LAYERS = {16, 32, 4};
  private static final int MEMBER_TIMEOUT_S = 3;
  /** The rounds' maximum wait: the lost trainer must be dropped well before it. */
  private static final Duration MAX_WAIT = Duration.ofSeconds(30);
  private final List<Node> nodes = new ArrayList<>();
  private final List<Process> processes = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("test");

  @AfterEach
  void stopEverything() throws Exception {
    for (Process p : processes) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    LoopbackNodes.closeAll(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 60);
  }

  private Node node(int port, List<String> members) throws Exception {
    Node n = await(Nodes.start(NodeConfig.clustered(cluster, LOOPBACK, port, members)
        .withMemberTimeoutS(MEMBER_TIMEOUT_S)));
    nodes.add(n);
    return n;
  }

  private static ParameterServer deployPs(Node node, int trainers) throws Exception {
    PsConfig config = PsConfig.builder(trainers, ModelSpec.mlp(LAYERS)).maxWait(MAX_WAIT).lr(0.05f).seed(1)
        .grpcHost(LOOPBACK).build();
    ParameterServerVerticle v = new ParameterServerVerticle(config, node.registry());
    return await(node.vertx().deployVerticle(v).compose(id -> v.server()));
  }

  /** A gradient of the model's size, every element {@code value}. */
  private static Tensor gradient(float value) {
    int n = ModelSpec.mlp(LAYERS).parameterCount();
    ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      b.putFloat(value);
    }
    return Tensor.newBuilder().addShape(n).setData(ByteString.copyFrom(b.array())).build();
  }

  private static Future<ModelReply> update(PsClient client, String id, long version) {
    return client.updateAndFetch(UpdateRequest.newBuilder().setParticipantId(id)
        .setModelVersion(version).setGradients(gradient(0.01f)).build());
  }

  private static void waitUntil(String what, Callable<Boolean> condition) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!condition.call()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aNodeClosedAbruptlyMidRoundLeavesAndTheRoundCompletesWithTheOthers() throws Exception {
    int psPort = freePort();
    Node psNode = node(psPort, List.of());
    ParameterServer ps = deployPs(psNode, 3);
    String seed = member(psPort);
    Node a = node(freePort(), List.of(seed));
    Node b = node(freePort(), List.of(seed));
    Node c = node(freePort(), List.of(seed));
    PsClient ca = PsClient.eventBus(a.vertx(), 60_000);
    PsClient cb = PsClient.eventBus(b.vertx(), 60_000);
    PsClient cc = PsClient.eventBus(c.vertx(), 60_000);
    for (PsClient client : List.of(ca, cb, cc)) {
      String id = client == ca ? "a" : client == cb ? "b" : "c";
      await(TrainerCommand.waitForServer(a.vertx(), client, id, System.nanoTime() + 30_000_000_000L));
    }
    // Round 0: all three.
    List<ModelReply> r0 = await(Future.all(update(ca, "a", 0), update(cb, "b", 0), update(cc, "c", 0)))
        .list();
    assertThat(r0).allSatisfy(r -> assertThat(r.getRoundSize()).isEqualTo(3));

    // Round 1: a and b are in, c's node dies before it sends.
    Future<ModelReply> a1 = update(ca, "a", 1);
    Future<ModelReply> b1 = update(cb, "b", 1);
    waitUntil("a and b in the open round", () -> await(ps.openArrivals()) == 2);
    nodes.remove(c);
    long killed = System.nanoTime();
    LoopbackNodes.crash(c);
    List<ModelReply> r1 = await(Future.all(a1, b1)).list();
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
    System.out.printf("[kill-test] node closed abruptly mid-round: the round completed with %d of 3 "
        + "trainers %d ms after the crash (member timeout %d s, max wait %d s)%n",
        r1.get(0).getRoundSize(), tookMs, MEMBER_TIMEOUT_S, MAX_WAIT.toSeconds());
    assertThat(r1).allSatisfy(r -> {
      assertThat(r.getRoundSize()).as("the live trainers' round, not a timed-out one").isEqualTo(2);
      assertThat(r.getModelVersion()).isEqualTo(2);
    });
    assertThat(tookMs).isLessThan(MAX_WAIT.toMillis());
    assertThat(psNode.registry().get("ps.rounds").tag("outcome", "shrunk").counter().count()).isEqualTo(1);

    // Later rounds wait for the two live trainers only.
    assertThat(await(ps.expectedTrainers())).isEqualTo(2);
    List<ModelReply> r2 = await(Future.all(update(ca, "a", 2), update(cb, "b", 2))).list();
    assertThat(r2).allSatisfy(r -> assertThat(r.getRoundSize()).isEqualTo(2));
    c.vertx().close();
  }

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void aTrainerProcessKilledWithSigkillMidRoundLeavesAndTheRoundCompletes() throws Exception {
    int psPort = freePort();
    Node psNode = node(psPort, List.of());
    ParameterServer ps = deployPs(psNode, 3);
    Node mine = node(freePort(), List.of(member(psPort)));
    PsClient client = PsClient.eventBus(mine.vertx(), 60_000);
    await(TrainerCommand.waitForServer(mine.vertx(), client, "a", System.nanoTime() + 30_000_000_000L));
    await(client.getModel("b"));
    Process victim = spawnTrainer(member(psPort), "victim");
    processes.add(victim);

    // The victim registers and sends its round-0 gradient; then it is frozen (SIGSTOP), so it
    // cannot send round 1 once round 0 completes.
    waitUntil("the victim's round-0 gradient", () -> await(ps.openArrivals()) == 1);
    signal(victim, "STOP");
    List<ModelReply> r0 = await(Future.all(update(client, "a", 0), update(client, "b", 0))).list();
    assertThat(r0).allSatisfy(r -> assertThat(r.getRoundSize()).isEqualTo(3));

    Future<ModelReply> a1 = update(client, "a", 1);
    Future<ModelReply> b1 = update(client, "b", 1);
    waitUntil("a and b in the open round", () -> await(ps.openArrivals()) == 2);
    long killed = System.nanoTime();
    signal(victim, "KILL");
    assertThat(victim.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(victim.exitValue()).as("killed by SIGKILL").isEqualTo(128 + 9);
    List<ModelReply> r1 = await(Future.all(a1, b1)).list();
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
    System.out.printf("[kill-test] trainer process SIGKILLed mid-round: the round completed with %d of 3 "
        + "trainers %d ms after the kill (member timeout %d s, max wait %d s)%n",
        r1.get(0).getRoundSize(), tookMs, MEMBER_TIMEOUT_S, MAX_WAIT.toSeconds());
    assertThat(r1).allSatisfy(r -> {
      assertThat(r.getRoundSize()).isEqualTo(2);
      assertThat(r.getModelVersion()).isEqualTo(2);
    });
    assertThat(tookMs).isLessThan(MAX_WAIT.toMillis());
    assertThat(await(ps.expectedTrainers())).isEqualTo(2);
  }

  private static void signal(Process p, String signal) throws Exception {
    LoopbackNodes.signal(p.pid(), signal);
  }

  private Process spawnTrainer(String seedMember, String id) throws IOException {
    List<String> cmd = new ArrayList<>(ChildJvm.command(TrainerCommand.class, "-D" + LoopbackNodes.JOIN_PAUSE + "=0"));
    cmd.addAll(List.of("--clustered", "--cluster-name", cluster, "--cluster-members", seedMember,
        "--cluster-host", LOOPBACK, "--cluster-port", String.valueOf(freePort()),
        "--member-timeout-s", String.valueOf(MEMBER_TIMEOUT_S),
        "--id", id, "--batches", "1000", "--batch-size", "10", "--layers", "16,32,4",
        "--seed", "5", "--timeout-ms", "60000", "--progress-every", "0"));
    return new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(new File(System.getProperty("java.io.tmpdir"), "batchrpc-" + id + ".log"))
        .start();
  }
}
