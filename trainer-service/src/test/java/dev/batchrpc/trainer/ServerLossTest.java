package dev.batchrpc.trainer;

import static dev.batchrpc.runtime.net.Ports.freePort;
import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static dev.batchrpc.runtime.testing.LoopbackNodes.member;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A trainer waiting in a round when the parameter server's node dies hears about it when the
 * cluster drops the node, not when its request times out: the call fails with UNAVAILABLE and its
 * retries start at once.
 */
@ExtendWith(LoopbackNodes.class)
class ServerLossTest {

  private static final int[] LAYERS = {4, 3};
  private static final long REQUEST_TIMEOUT_MS = 60_000;
  private final List<Node> nodes = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("server-loss");

  @AfterEach
  void closeNodes() {
    LoopbackNodes.closeQuietly(nodes);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return LoopbackNodes.await(f, 60);
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void aCallInFlightFailsAtOnceWhenTheServersNodeLeaves() throws Exception {
    int psPort = freePort();
    Node psNode = await(Nodes.start(NodeConfig.clustered(cluster, LOOPBACK, psPort, List.of()).withMemberTimeoutS(3)));
    PsConfig config = PsConfig.builder(2, ModelSpec.mlp(LAYERS)).lr(0.1f).seed(1).grpcHost(LOOPBACK).build();
    ParameterServerVerticle verticle = new ParameterServerVerticle(config, psNode.registry());
    ParameterServer ps = await(psNode.vertx().deployVerticle(verticle).compose(id -> verticle.server()));
    Node trainerNode = await(Nodes.start(NodeConfig.clustered(cluster, LOOPBACK, freePort(),
        List.of(member(psPort))).withMemberTimeoutS(3)));
    nodes.add(trainerNode);
    PsClient client = PsClient.eventBus(trainerNode.vertx(), REQUEST_TIMEOUT_MS);
    await(TrainerCommand.waitForServer(trainerNode.vertx(), client, "t0", System.nanoTime() + 30_000_000_000L));

    // A round of 2 with one arrival: the call waits in the open round.
    int n = ModelSpec.mlp(LAYERS).parameterCount();
    Tensor zeros = Tensor.newBuilder().addShape(n).setData(ByteString.copyFrom(new byte[4 * n])).build();
    Future<ModelReply> waiting = client.updateAndFetch(UpdateRequest.newBuilder().setParticipantId("t0")
        .setModelVersion(0).setGradients(zeros).build());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (await(ps.openArrivals()) != 1) {
      assertThat(System.nanoTime()).isLessThan(deadline);
      Thread.sleep(10);
    }
    long crashed = System.nanoTime();
    LoopbackNodes.crash(psNode);
    ExecutionException failure = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> waiting.toCompletionStage().toCompletableFuture().get(REQUEST_TIMEOUT_MS, TimeUnit.MILLISECONDS));
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - crashed);
    System.out.printf("[kill-test] parameter server node closed abruptly: the trainer's call in flight "
        + "failed after %d ms (request timeout %d ms)%n", tookMs, REQUEST_TIMEOUT_MS);
    assertThat(failure.getCause()).isInstanceOf(RpcException.class);
    assertThat(((RpcException) failure.getCause()).code()).isEqualTo(FailureCode.UNAVAILABLE);
    assertThat(failure.getCause()).hasMessageContaining("left the cluster");
    assertThat(tookMs).isLessThan(REQUEST_TIMEOUT_MS / 2);
    psNode.vertx().close();
  }
}
