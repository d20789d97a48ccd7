package dev.batchrpc.trainer;

import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.net.Certificates;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.ClientAuth;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data channel honours the node's TLS: trainers on nodes with certificates of the cluster's
 * CA train over it, and a client without a certificate of that CA gets no answer from it.
 */
@ExtendWith(LoopbackNodes.class)
class DataChannelTlsTest {

  private static final int[] LAYERS = {16, 32, 4};

  @TempDir
  Path dir;
  private final List<Node> nodes = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    LoopbackNodes.closeAll(nodes);
  }

  private Node start(String cluster, String name, List<String> members) throws Exception {
    NodeConfig config = LoopbackNodes.config(cluster, Ports.freePort(), members)
        .withTls(Certificates.tlsConfig(dir.resolve("certs"), name, ClientAuth.REQUIRED));
    Node n = Nodes.start(config).await(60, TimeUnit.SECONDS);
    nodes.add(n);
    return n;
  }

  @Test
  void trainersTrainOverTheTlsDataChannelAndAClientWithoutTheCaCannot() throws Exception {
    Certificates.write(dir.resolve("certs"), List.of("ps", "t0", "t1"), Certificates.DEFAULT_HOSTS, 1);
    String cluster = LoopbackNodes.clusterName("data-tls");
    Node psNode = start(cluster, "ps", List.of());
    ParameterServerVerticle v = new ParameterServerVerticle(
        PsConfig.builder(2, ModelSpec.mlp(LAYERS)).lr(0.05f).seed(1).grpcHost(LOOPBACK).build(), psNode.registry());
    psNode.vertx().deployVerticle(v).await(30, TimeUnit.SECONDS);
    ParameterServer ps = v.server().await(10, TimeUnit.SECONDS);
    assertThat(v.dataPort()).isPositive();

    List<Future<Trainer.Summary>> runs = new ArrayList<>();
    for (String id : List.of("t0", "t1")) {
      Node n = start(cluster, id, List.of(LoopbackNodes.member(psNode)));
      PsClient client = PsClient.eventBus(n.vertx(), 20_000);
      runs.add(TrainerCommand.waitForServer(n.vertx(), client, id, System.nanoTime() + 20_000_000_000L)
          .compose(x -> new Trainer(n.vertx(), client, id, new ClassificationTask("synthetic", LAYERS, 10, 5, id),
              4, null).run()));
    }
    Future.all(runs).await(60, TimeUnit.SECONDS);
    assertThat(ps.version()).isEqualTo(4);

    // A plain client (no certificate, no TLS) reaches the port but is never answered.
    Vertx plain = Vertx.vertx();
    try {
      Throwable outcome = LoopbackNodes.outcome(DataClient.connect(plain, LOOPBACK, v.dataPort(), 1 << 20,
              new BufferPool(0))
          .compose(c -> c.call(Addresses.PS_GET_MODEL,
              GetModelRequest.newBuilder().setParticipantId("rogue").build().toByteString(), null, 3_000)),
          15_000);
      assertThat(outcome).isInstanceOf(RpcException.class);
      assertThat(((RpcException) outcome).code()).isEqualTo(FailureCode.UNAVAILABLE);
    } finally {
      plain.close().await(10, TimeUnit.SECONDS);
    }
    assertThat(ps.version()).isEqualTo(4);
  }
}
