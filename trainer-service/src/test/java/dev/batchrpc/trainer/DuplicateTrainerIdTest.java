package dev.batchrpc.trainer;

import static dev.batchrpc.runtime.net.Ports.freePort;
import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static dev.batchrpc.runtime.testing.LoopbackNodes.member;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.data.DataChannelConfig;
import dev.batchrpc.runtime.grpc.GrpcCalls;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 11, row 2: a second trainer started with the {@code --id} of a live one is refused at
 * registration with a clear error, and never reports rounds it did not take part in: on the data
 * channel, on the event bus ({@code ps --data-port -1}) and over gRPC ({@code trainer --ps-grpc}).
 */
@ExtendWith(LoopbackNodes.class)
class DuplicateTrainerIdTest {

  private static final ModelSpec MODEL = ModelSpec.replay(64);
  private final List<Node> nodes = new ArrayList<>();
  private final String cluster = LoopbackNodes.clusterName("dup");

  @AfterEach
  void stop() throws Exception {
    LoopbackNodes.closeAll(nodes);
  }

  private Node node(int port, List<String> members) throws Exception {
    Node n = LoopbackNodes.await(Nodes.start(NodeConfig.clustered(cluster, LOOPBACK, port, members)), 60);
    nodes.add(n);
    return n;
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aSecondTrainerOnAnotherNodeUnderALiveIdIsRefusedAtRegistration() throws Exception {
    for (boolean dataChannel : new boolean[] {true, false}) {
      int psPort = freePort();
      Node psNode = node(psPort, List.of());
      ParameterServerVerticle v = new ParameterServerVerticle(PsConfig.of(2, MODEL).withGrpcPort(-1),
          psNode.registry(), dataChannel ? DataChannelConfig.loopback() : DataChannelConfig.off());
      ParameterServer ps = LoopbackNodes.await(psNode.vertx().deployVerticle(v).compose(id -> v.server()), 60);
      Node first = node(freePort(), List.of(member(psPort)));
      Node second = node(freePort(), List.of(member(psPort)));
      PsClient live = PsClient.eventBus(first.vertx(), 30_000);
      PsClient impostor = PsClient.eventBus(second.vertx(), 30_000);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      LoopbackNodes.await(TrainerCommand.waitForServer(first.vertx(), live, "t0", deadline), 60);

      Throwable refused = LoopbackNodes.outcome(
          TrainerCommand.waitForServer(second.vertx(), impostor, "t0", deadline), 30_000);
      assertThat(refused).as("data channel %s", dataChannel).isInstanceOf(RpcException.class);
      assertThat(((RpcException) refused).code()).isEqualTo(FailureCode.DUPLICATE);
      assertThat(refused).hasMessageContaining("the parameter server refused trainer 't0'")
          .hasMessageContaining("live on another cluster node").hasMessageContaining("--id");
      // A trainer run under that id fails too (exit 1), having reported nothing.
      Throwable run = LoopbackNodes.outcome(new Trainer(second.vertx(), impostor, "t0", new ReplayTask(), 3, null,
          Duration.ofSeconds(10)).run(), 30_000);
      assertThat(((RpcException) run).code()).isEqualTo(FailureCode.DUPLICATE);
      // Another id from that node is welcome, and the live one goes on.
      LoopbackNodes.await(TrainerCommand.waitForServer(second.vertx(), impostor, "t1", deadline), 60);
      assertThat(ps.version()).isZero();
      LoopbackNodes.closeAll(List.copyOf(nodes));
      nodes.clear();
    }
  }

  /**
   * Over gRPC there is no node to tell two trainers apart at registration; a request under this
   * trainer's id already in the open round is another process's (its own would have left the round
   * at its deadline), so the run ends at once with DUPLICATE instead of riding it out as an outage
   * and counting the other's rounds as its own.
   */
  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void overGrpcADuplicateInTheOpenRoundEndsTheRunAtOnceWithTheReason() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      PsConfig config = PsConfig.of(2, MODEL).withParticipants("a", "b").withGrpcPort(0);
      ParameterServerVerticle v = new ParameterServerVerticle(config, null);
      vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
      SocketAddress at = SocketAddress.inetSocketAddress(v.grpcPort(), LOOPBACK);
      GrpcClient grpc = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(1 << 20));
      ModelReply m = GrpcCalls.unary(grpc, at, ParameterServerGrpcClient.GetModel,
          GetModelRequest.newBuilder().setParticipantId("a").build(), 10_000).await(10, TimeUnit.SECONDS);
      // The live "a": its update waits for "b".
      Future<ModelReply> liveA = GrpcCalls.unary(grpc, at, ParameterServerGrpcClient.UpdateAndFetchModel,
          UpdateRequest.newBuilder().setParticipantId("a").setModelVersion(0).setGradients(m.getParameters()).build(),
          30_000);
      long t0 = System.nanoTime();
      Throwable run = LoopbackNodes.outcome(new Trainer(vertx, PsClient.grpc(vertx, at, 1 << 20, 10_000), "a",
          new ReplayTask(), 3, null, Duration.ofSeconds(20)).run(), 30_000);
      assertThat(run).isInstanceOf(RpcException.class).hasMessageContaining("another trainer runs with --id a");
      assertThat(((RpcException) run).code()).isEqualTo(FailureCode.DUPLICATE);
      assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).as("at once, not after retrying")
          .isLessThan(5);
      assertThat(liveA.isComplete()).as("the live trainer's request still waits for its round").isFalse();
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
  }
}
