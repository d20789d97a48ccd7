package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.AgentGrpcClient;
import dev.batchrpc.proto.v1.ObserverGrpcService;
import dev.batchrpc.proto.v1.RegisterObserverRequest;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.net.Certificates;
import dev.batchrpc.runtime.net.Tls;
import dev.batchrpc.runtime.net.TlsConfig;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent on a node started with TLS and a gRPC observer (as a Python one would be), both with
 * certificates of one CA and client certificates required: the observer registers and asks for
 * actions over TLS, and the agent's client runs its episodes over TLS. An observer endpoint whose
 * certificate comes from another CA gets no episode.
 */
class AgentGrpcTlsTest {

  private static final int STEPS = 3;

  @TempDir
  Path dir;
  private Node agentNode;
  private Vertx observerVertx;
  private AgentVerticle agent;

  @BeforeEach
  void start() throws Exception {
    Certificates.write(dir.resolve("cluster"), List.of("agent", "observer"), Certificates.DEFAULT_HOSTS, 1);
    Certificates.write(dir.resolve("other"), List.of("observer"), Certificates.DEFAULT_HOSTS, 1);
    agentNode = Nodes.start(NodeConfig.local().withTls(tls("cluster", "agent"))).await(30, TimeUnit.SECONDS);
    agent = new AgentVerticle(AgentConfig.of(1, AgentMode.BATCH, 7).withGrpc("127.0.0.1", 0), null);
    agentNode.vertx().deployVerticle(agent).await(30, TimeUnit.SECONDS);
    observerVertx = Vertx.vertx();
    Tls.install(observerVertx, tls("cluster", "observer"));
  }

  @AfterEach
  void stop() throws Exception {
    if (observerVertx != null) {
      observerVertx.close().await(10, TimeUnit.SECONDS);
    }
    if (agentNode != null) {
      agentNode.close().await(10, TimeUnit.SECONDS);
    }
  }

  private TlsConfig tls(String ca, String name) {
    return Certificates.tlsConfig(dir.resolve(ca), name, ClientAuth.REQUIRED);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void episodesRunOverTlsWithAnObserverOfTheCa() throws Exception {
    AgentGrpcClient toAgent = AgentGrpcClient.create(
        GrpcClient.client(observerVertx, Tls.grpcClient(observerVertx, new HttpClientOptions())),
        SocketAddress.inetSocketAddress(agent.grpcPort(), "127.0.0.1"));
    AtomicInteger episodes = new AtomicInteger();
    int port = serveObserver(Tls.grpcServer(observerVertx, new HttpServerOptions()), toAgent, episodes);
    toAgent.registerObserver(RegisterObserverRequest.newBuilder().setObserverId("observer-0")
        .setGrpcEndpoint("127.0.0.1:" + port).build()).await(10, TimeUnit.SECONDS);

    EpisodeResult result = agent.runEpisode(STEPS).await(30, TimeUnit.SECONDS);
    assertThat(result.steps()).isEqualTo(STEPS);
    assertThat(result.episodeReward()).isEqualTo(STEPS);
    assertThat(episodes).hasValue(1);

    // The same observer behind a certificate of another CA (it would accept the agent): the
    // agent does not trust it, so no episode reaches it.
    HttpServerOptions foreign = Tls.grpcServer(new HttpServerOptions(), tls("other", "observer"))
        .setTrustOptions(new PemTrustOptions().addCertPath(dir.resolve("cluster/ca.pem").toString()));
    AtomicInteger foreignEpisodes = new AtomicInteger();
    int foreignPort = serveObserver(foreign, toAgent, foreignEpisodes);
    // (the trusted one leaves first: a live observer's id is not taken over)
    toAgent.leave(dev.batchrpc.proto.v1.LeaveRequest.newBuilder().setParticipantId("observer-0").build())
        .await(10, TimeUnit.SECONDS);
    toAgent.registerObserver(RegisterObserverRequest.newBuilder().setObserverId("observer-0")
        .setGrpcEndpoint("127.0.0.1:" + foreignPort).build()).await(10, TimeUnit.SECONDS);
    Throwable refused = agent.runEpisode(STEPS).<Throwable>map(r -> null).otherwise(e -> e).await(30, TimeUnit.SECONDS);
    assertThat(refused).as("the episode on an untrusted observer failed").isNotNull();
    assertThat(foreignEpisodes).hasValue(0);
  }

  /**
   * A gRPC observer: each episode asks the agent for an action at every step (a zero state) and
   * reports a reward of 1 per step. Returns its port.
   */
  private int serveObserver(HttpServerOptions options, AgentGrpcClient toAgent, AtomicInteger episodes)
      throws Exception {
    GrpcServer grpc = GrpcServer.server(observerVertx);
    grpc.addService(new ObserverGrpcService() {
      @Override
      public Future<RunEpisodeReply> runEpisode(RunEpisodeRequest q) {
        episodes.incrementAndGet();
        Future<?> steps = Future.succeededFuture();
        for (int t = 0; t < q.getNSteps(); t++) {
          int step = t;
          steps = steps.compose(v -> toAgent.selectAction(SelectActionRequest.newBuilder().setObserverId("observer-0")
              .setEpisode(q.getEpisode()).setStep(step).setState(Tensors.vector(new float[4])).build()));
        }
        return steps.map(v -> {
          RunEpisodeReply.Builder r = RunEpisodeReply.newBuilder().setObserverId("observer-0")
              .setFirstEpisodeReward(q.getNSteps());
          for (int t = 0; t < q.getNSteps(); t++) {
            r.addRewards(1f).addTerminated(false);
          }
          return r.build();
        });
      }
    });
    HttpServer server = observerVertx.createHttpServer(options).requestHandler(grpc)
        .listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    return server.actualPort();
  }
}
