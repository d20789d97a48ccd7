package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
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
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The parameter server's gRPC endpoint on a node started with TLS: a client that trusts the CA
 * and presents a certificate of it is served; a plaintext client, a client without a certificate,
 * one with a certificate of another CA and one that does not trust the CA are all refused. With
 * {@code --grpc-client-auth none}, trusting the CA is enough.
 */
class ParameterServerGrpcTlsTest {

  private static final int PARAMETERS = 10;

  @TempDir
  static Path dir;
  private static Path cluster;
  private static Path other;
  private static final List<Node> NODES = new ArrayList<>();
  private static Vertx clients;

  @BeforeAll
  static void setUp() throws Exception {
    cluster = dir.resolve("cluster");
    other = dir.resolve("other");
    Certificates.write(cluster, List.of("ps", "trainer"), Certificates.DEFAULT_HOSTS, 1);
    Certificates.write(other, List.of("trainer"), Certificates.DEFAULT_HOSTS, 1);
    clients = Vertx.vertx();
  }

  @AfterAll
  static void tearDown() throws Exception {
    for (Node n : NODES) {
      n.close().await(10, TimeUnit.SECONDS);
    }
    clients.close().await(10, TimeUnit.SECONDS);
  }

  /** A PS serving gRPC on a free loopback port, on a node started with TLS; returns the port. */
  private static int startServer(ClientAuth clientAuth) throws Exception {
    Node node = Nodes.start(NodeConfig.local().withTls(Certificates.tlsConfig(cluster, "ps", clientAuth)))
        .await(30, TimeUnit.SECONDS);
    NODES.add(node);
    PsConfig config = PsConfig.of(1, ModelSpec.replay(PARAMETERS)).withGrpcPort(0);
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    node.vertx().deployVerticle(v).await(30, TimeUnit.SECONDS);
    return v.grpcPort();
  }

  /** GetModel with a client of these transport options: the reply, or the failure. */
  private static Object getModel(int port, HttpClientOptions options) throws Exception {
    GrpcClient client = GrpcClient.client(clients, options);
    try {
      SocketAddress server = SocketAddress.inetSocketAddress(port, "127.0.0.1");
      Future<ModelReply> reply = ParameterServerGrpcClient.create(client, server)
          .getModel(GetModelRequest.newBuilder().setParticipantId("t").build());
      return reply.<Object>map(r -> r).otherwise(e -> e).await(15, TimeUnit.SECONDS);
    } finally {
      client.close().await(10, TimeUnit.SECONDS);
    }
  }

  private static void assertServed(Object outcome) {
    assertThat(outcome).isInstanceOf(ModelReply.class);
    assertThat(Tensors.toFloats(((ModelReply) outcome).getParameters())).hasSize(PARAMETERS);
  }

  private static TlsConfig tls(Path dir, String name) {
    return Certificates.tlsConfig(dir, name, ClientAuth.REQUIRED);
  }

  /** TLS, trusting {@code ca}, presenting no certificate. */
  private static HttpClientOptions trustOnly(Path ca) {
    return new HttpClientOptions().setSsl(true).setUseAlpn(true).setProtocolVersion(HttpVersion.HTTP_2)
        .setVerifyHost(false).setTrustOptions(new PemTrustOptions().addCertPath(ca.toString()));
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void onlyAClientWithACertificateOfTheCaIsServed() throws Exception {
    int port = startServer(ClientAuth.REQUIRED);

    assertServed(getModel(port, Tls.grpcClient(new HttpClientOptions(), tls(cluster, "trainer"))));
    assertThat(getModel(port, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false))).as("plaintext").isInstanceOf(Throwable.class);
    assertThat(getModel(port, trustOnly(cluster.resolve("ca.pem")))).as("no client certificate")
        .isInstanceOf(Throwable.class);
    // Trusts the server but presents a certificate of another CA.
    HttpClientOptions foreignCert = Tls.grpcClient(new HttpClientOptions(), tls(other, "trainer"))
        .setTrustOptions(new PemTrustOptions().addCertPath(cluster.resolve("ca.pem").toString()));
    assertThat(getModel(port, foreignCert)).as("a certificate of another CA").isInstanceOf(Throwable.class);
    // Presents a good certificate but does not trust the server's CA.
    HttpClientOptions distrusting = Tls.grpcClient(new HttpClientOptions(), tls(cluster, "trainer"))
        .setTrustOptions(new PemTrustOptions().addCertPath(other.resolve("ca.pem").toString()));
    assertThat(getModel(port, distrusting)).as("a client that does not trust the CA").isInstanceOf(Throwable.class);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void withClientAuthNoneTrustingTheCaIsEnough() throws Exception {
    int port = startServer(ClientAuth.NONE);
    assertServed(getModel(port, trustOnly(cluster.resolve("ca.pem"))));
    assertThat(getModel(port, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false))).as("still no plaintext").isInstanceOf(Throwable.class);
  }
}
