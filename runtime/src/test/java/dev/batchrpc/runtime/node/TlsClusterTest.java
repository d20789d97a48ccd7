package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.runtime.net.Certificates;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.net.TlsConfig;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.http.ClientAuth;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The test: nodes with certificates of the cluster's CA exchange event-bus messages over
 * TLS; a node that joins the same Hazelcast cluster with a certificate of another CA, or with no
 * TLS at all, can neither reach their consumers nor be reached: its requests fail, theirs to it
 * fail, and no consumer ever sees a message across the line.
 */
@ExtendWith(LoopbackNodes.class)
class TlsClusterTest {

  /** Short: every refused request below waits this long at most. */
  private static final long REQUEST_TIMEOUT_MS = 3_000;

  @TempDir
  static Path dir;
  private static Path cluster;
  private static Path other;

  private final String clusterName = LoopbackNodes.clusterName("tls");
  private final List<Node> started = new ArrayList<>();
  /** Messages each test consumer received, by address. */
  private final Map<String, AtomicInteger> received = new ConcurrentHashMap<>();

  @BeforeAll
  static void certificates() throws IOException {
    cluster = dir.resolve("cluster");
    other = dir.resolve("other");
    Certificates.write(cluster, List.of("a", "b"), Certificates.DEFAULT_HOSTS, 1);
    // Same names, same hosts, a different CA.
    Certificates.write(other, List.of("a"), Certificates.DEFAULT_HOSTS, 1);
  }

  @AfterEach
  void close() throws Exception {
    LoopbackNodes.closeAll(started);
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void nodesOfTheCaExchangeMessagesAndAForeignCertificateCannot() throws Exception {
    Node a = start(Certificates.tlsConfig(cluster, "a", ClientAuth.REQUIRED), List.of());
    Node b = start(Certificates.tlsConfig(cluster, "b", ClientAuth.REQUIRED), List.of(LoopbackNodes.member(a)));
    assertThat(a.members()).containsExactlyInAnyOrder(a.nodeId(), b.nodeId());
    consume(a, "tls.a");
    consume(b, "tls.b");

    // Request and reply, both ways, over TLS.
    assertThat(reply(a, "tls.b", "from a")).isEqualTo("tls.b got from a");
    assertThat(reply(b, "tls.a", "from b")).isEqualTo("tls.a got from b");

    Node rogue = start(Certificates.tlsConfig(other, "a", ClientAuth.REQUIRED), List.of(LoopbackNodes.member(a)));
    assertRefused(a, rogue, "tls.a", "tls.rogue-ca");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aNodeWithoutTlsCannotExchangeMessagesWithTheTlsCluster() throws Exception {
    Node a = start(Certificates.tlsConfig(cluster, "a", ClientAuth.REQUIRED), List.of());
    consume(a, "tls.a");
    Node plain = start(null, List.of(LoopbackNodes.member(a)));
    assertRefused(a, plain, "tls.a", "tls.plain");
  }

  /**
   * The outsider joined Hazelcast (it sees the members and the consumers' registrations), yet a
   * request either way fails for want of a connection, not for want of a consumer, and neither
   * consumer receives anything.
   */
  private void assertRefused(Node member, Node outsider, String memberAddress, String outsiderAddress)
      throws Exception {
    assertThat(outsider.members()).as("the outsider joined the Hazelcast cluster").contains(member.nodeId());
    consume(outsider, outsiderAddress);
    int before = count(memberAddress);

    Throwable in = refused(outsider, memberAddress, "from the outsider");
    Throwable out = refused(member, outsiderAddress, "from a member");

    for (Throwable t : List.of(in, out)) {
      // NO_HANDLERS would mean the registration never reached the sender: the test proved nothing.
      if (t instanceof ReplyException r) {
        assertThat(r.failureType()).as("%s", t).isNotEqualTo(ReplyFailure.NO_HANDLERS)
            .isNotEqualTo(ReplyFailure.RECIPIENT_FAILURE);
      }
    }
    assertThat(count(memberAddress)).as("the member's consumer received nothing from the outsider").isEqualTo(before);
    assertThat(count(outsiderAddress)).as("the outsider's consumer received nothing").isZero();
  }

  private Node start(TlsConfig tls, List<String> members) throws Exception {
    NodeConfig config = LoopbackNodes.config(clusterName, Ports.freePort(), members).withTls(tls);
    Node n = Nodes.start(config).await(60, TimeUnit.SECONDS);
    started.add(n);
    return n;
  }

  private void consume(Node n, String address) throws Exception {
    AtomicInteger count = received.computeIfAbsent(address, k -> new AtomicInteger());
    n.vertx().eventBus().<GetModelRequest>consumer(address, (Message<GetModelRequest> m) -> {
      count.incrementAndGet();
      m.reply(GetModelRequest.newBuilder().setParticipantId(address + " got " + m.body().getParticipantId()).build());
    }).completion().await(10, TimeUnit.SECONDS);
  }

  private int count(String address) {
    return received.get(address).get();
  }

  private static Future<Message<GetModelRequest>> request(Node from, String address, String text) {
    return from.vertx().eventBus().request(address, GetModelRequest.newBuilder().setParticipantId(text).build(),
        ProtobufCodec.options(REQUEST_TIMEOUT_MS));
  }

  /** The outcome of a request: null for a reply, else the failure. */
  private static Throwable outcome(Node from, String address, String text) throws Exception {
    return LoopbackNodes.outcome(request(from, address, text), REQUEST_TIMEOUT_MS * 3);
  }

  /**
   * Whether {@code t} is NO_HANDLERS: a consumer registered on another node reaches the sender's
   * view of the cluster a moment later, so a request that early is retried.
   */
  private static boolean notYetRegistered(Throwable t) {
    return t instanceof ReplyException r && r.failureType() == ReplyFailure.NO_HANDLERS;
  }

  private static String reply(Node from, String address, String text) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      Promise<String> p = Promise.promise();
      request(from, address, text).onComplete(ar -> {
        if (ar.succeeded()) {
          p.complete(ar.result().body().getParticipantId());
        } else {
          p.fail(ar.cause());
        }
      });
      try {
        return p.future().await(REQUEST_TIMEOUT_MS * 3, TimeUnit.MILLISECONDS);
      } catch (ReplyException e) {
        if (!notYetRegistered(e) || System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(50);
      }
    }
  }

  /** The failure of a request that must fail (retried while the consumer is not yet known). */
  private static Throwable refused(Node from, String address, String text) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      Throwable t = outcome(from, address, text);
      assertThat(t).as("the request to %s was refused", address).isNotNull();
      if (!notYetRegistered(t) || System.nanoTime() > deadline) {
        return t;
      }
      Thread.sleep(50);
    }
  }
}
