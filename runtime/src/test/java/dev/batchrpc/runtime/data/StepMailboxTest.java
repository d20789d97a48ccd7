package dev.batchrpc.runtime.data;

import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static dev.batchrpc.runtime.testing.LoopbackNodes.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.transport.Transport;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The data channel's same-host mailbox for small calls ({@link StepMailbox}): between two nodes
 * whose loops poll, calls without a payload travel through shared memory and are answered exactly
 * as in frames (bodies, refusal codes, a reply too large for the mailbox, calls at once, a timeout,
 * a closed connection); loops that sleep are woken by a poke; where either side's loop does not
 * poll, nothing is attached and the frames carry the calls.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StepMailboxTest {

  private static final int SPIN_US = 50;
  private final List<Node> nodes = new ArrayList<>();
  private final List<DataServer> servers = new ArrayList<>();

  @BeforeEach
  void needsEpoll() {
    Assumptions.assumeTrue(Transport.EPOLL != null && Transport.EPOLL.available(),
        "loops poll only on the native epoll transport");
  }

  @AfterEach
  void close() throws Exception {
    for (DataServer s : servers) {
      await(s.close(), 10);
    }
    for (Node n : nodes) {
      await(n.close(), 20);
    }
  }

  private Node node(int spinUs) throws Exception {
    Node n = await(Nodes.start(NodeConfig.local().withSpinUs(spinUs)), 30);
    nodes.add(n);
    return n;
  }

  /** A server answering "echo" (its body reversed), "refuse", "big" (20 KiB), "slow" (after 300 ms) and "never". */
  private DataServer server(Node n) throws Exception {
    Map<String, DataServer.Method> methods = Map.of(
        "echo", method(body -> Future.succeededFuture(new DataServer.Reply(reverse(body), null))),
        "refuse", method(body -> Future.failedFuture(new RpcException(FailureCode.DUPLICATE, "full: "
            + body.toStringUtf8()))),
        "big", method(body -> Future.succeededFuture(new DataServer.Reply(ByteString.copyFrom(new byte[20 * 1024]),
            null))),
        "slow", method(body -> {
          Promise<DataServer.Reply> p = Promise.promise();
          n.vertx().setTimer(300, t -> p.complete(new DataServer.Reply(reverse(body), null)));
          return p.future();
        }),
        "never", method(body -> Promise.<DataServer.Reply>promise().future()));
    DataServer s = await(DataServer.listen(n.vertx(), LOOPBACK, 0, methods, 1024, 1 << 20, 0, 1, null), 10);
    servers.add(s);
    return s;
  }

  private static DataServer.Method method(java.util.function.Function<ByteString, Future<DataServer.Reply>> f) {
    return new DataServer.Method() {
      @Override
      public void admit(DataHeader header, long payloadLength) {
      }

      @Override
      public Future<DataServer.Reply> call(DataHeader header, ByteBuffer payload) {
        return f.apply(header.getBody());
      }
    };
  }

  private static ByteString reverse(ByteString body) {
    return ByteString.copyFromUtf8(new StringBuilder(body.toStringUtf8()).reverse().toString());
  }

  /** Connects from an event loop of {@code client}, offering a mailbox. */
  private static DataClient connect(Node client, DataServer server) throws Exception {
    Context ctx = client.vertx().getOrCreateContext();
    Promise<DataClient> done = Promise.promise();
    ctx.runOnContext(v -> DataClient.connect(client.vertx(), LOOPBACK, server.port(), 0, new BufferPool(0), 0,
        null, true).onComplete(done));
    return await(done.future(), 20);
  }

  private static String call(DataClient c, String method, String body, long timeoutMs) throws Exception {
    return await(c.call(method, ByteString.copyFromUtf8(body), null, timeoutMs), 20).body().toStringUtf8();
  }

  private static FailureCode refusal(Future<?> call) {
    try {
      await(call, 20);
    } catch (Exception e) {
      return RpcException.of(e.getCause() != null ? e.getCause() : e).code();
    }
    throw new AssertionError("the call succeeded");
  }

  @Test
  void smallCallsGoThroughTheMailboxAndAreAnsweredAsInFrames() throws Exception {
    DataServer server = server(node(SPIN_US));
    DataClient c = connect(node(SPIN_US), server);
    assertThat(c.mailbox()).as("both loops poll and share a host").isTrue();
    assertThat(mailboxFiles()).as("the client unlinks its file once the server mapped it").isEmpty();
    StepMailbox.Client m = c.mailboxClient();
    for (int i = 0; i < 300; i++) {
      assertThat(call(c, "echo", "step-" + i, 5_000)).isEqualTo(new StringBuilder("step-" + i).reverse().toString());
    }
    assertThat(m.sent).as("every call went through the mailbox").hasValue(300);

    // A refusal keeps its code and text.
    Future<DataClient.Response> refused = c.call("refuse", ByteString.copyFromUtf8("x"), null, 5_000);
    assertThat(refusal(refused)).isEqualTo(FailureCode.DUPLICATE);
    assertThat(refused.cause()).hasMessageContaining("full: x");
    assertThat(refusal(c.call("no-such-method", ByteString.EMPTY, null, 5_000))).isEqualTo(FailureCode.BAD_REQUEST);
    // A reply that does not fit the mailbox comes in a frame; the mailbox is free after it.
    assertThat(await(c.call("big", ByteString.EMPTY, null, 5_000), 20).body().size()).isEqualTo(20 * 1024);
    assertThat(call(c, "echo", "after", 5_000)).isEqualTo("retfa");
    long before = m.sent.get();
    assertThat(before).as("the refusals, the large reply's call and the one after it went through the mailbox too")
        .isEqualTo(304);

    // Calls at once: one in the mailbox, the others in frames, each answered with its own body.
    List<Future<DataClient.Response>> burst = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      burst.add(c.call("echo", ByteString.copyFromUtf8("burst-" + i), null, 5_000));
    }
    for (int i = 0; i < 8; i++) {
      assertThat(await(burst.get(i), 20).body().toStringUtf8())
          .isEqualTo(new StringBuilder("burst-" + i).reverse().toString());
    }
    assertThat(m.sent.get()).isBetween(before + 1, before + 8);
    assertThat(c.isOpen()).isTrue();
  }

  @Test
  void loopsThatSleepAreWokenByAPoke() throws Exception {
    DataServer server = server(node(SPIN_US));
    DataClient c = connect(node(SPIN_US), server);
    assertThat(c.mailbox()).isTrue();
    StepMailbox.Client m = c.mailboxClient();
    // 20 ms between calls, far beyond the 50 us poll: the server's loop sleeps when each call
    // comes, and the client's sleeps while the slow call is answered.
    for (int i = 0; i < 5; i++) {
      Thread.sleep(20);
      assertThat(call(c, "echo", "idle-" + i, 5_000)).isEqualTo(new StringBuilder("idle-" + i).reverse().toString());
    }
    assertThat(call(c, "slow", "late", 5_000)).isEqualTo("etal");
    assertThat(m.sent).hasValue(6);
    assertThat(m.poked.get()).as("pokes that woke the server").isPositive();
    assertThat(m.woken.get()).as("pokes that woke the client").isPositive();
  }

  @Test
  void aTimedOutCallLeavesTheMailboxToItsAnswerAndTheNextCallsStillGetTheirs() throws Exception {
    DataServer server = server(node(SPIN_US));
    DataClient c = connect(node(SPIN_US), server);
    assertThat(refusal(c.call("slow", ByteString.copyFromUtf8("a"), null, 50))).isEqualTo(FailureCode.UNAVAILABLE);
    // The slow answer is still to come into the mailbox: this call goes in a frame.
    assertThat(call(c, "echo", "frame", 5_000)).isEqualTo("emarf");
    Thread.sleep(400);
    long before = c.mailboxClient().sent.get();
    assertThat(call(c, "echo", "mailbox", 5_000)).isEqualTo("xobliam");
    assertThat(c.mailboxClient().sent.get()).as("the mailbox is free once the late answer came").isEqualTo(before + 1);
  }

  @Test
  void aConnectionThatClosesFailsTheCallInTheMailbox() throws Exception {
    DataServer server = server(node(SPIN_US));
    DataClient c = connect(node(SPIN_US), server);
    Future<DataClient.Response> waiting = c.call("never", ByteString.EMPTY, null, 30_000);
    assertThat(c.mailboxClient().sent).hasValue(1);
    await(server.close(), 10);
    servers.clear();
    assertThat(refusal(waiting)).isEqualTo(FailureCode.UNAVAILABLE);
  }

  @Test
  void withoutPollingOnEitherSideTheCallsStayInFrames() throws Exception {
    DataServer polling = server(node(SPIN_US));
    DataServer sleeping = server(node(0));
    DataClient toSleeping = connect(node(SPIN_US), sleeping);
    DataClient fromSleeping = connect(node(0), polling);
    assertThat(toSleeping.mailbox()).as("the server's loop does not poll").isFalse();
    assertThat(fromSleeping.mailbox()).as("the client's loop does not poll").isFalse();
    assertThat(call(toSleeping, "echo", "ab", 5_000)).isEqualTo("ba");
    assertThat(call(fromSleeping, "echo", "cd", 5_000)).isEqualTo("dc");
    assertThat(mailboxFiles()).as("a refused offer leaves no file").isEmpty();
  }

  @Test
  void aClientWithTheMailboxTurnedOffKeepsToFrames() throws Exception {
    DataServer server = server(node(SPIN_US));
    Node client = node(SPIN_US);
    System.setProperty(StepMailbox.ENABLED_PROPERTY, "false");
    DataClient c;
    try {
      c = connect(client, server);
    } finally {
      System.clearProperty(StepMailbox.ENABLED_PROPERTY);
    }
    assertThat(c.mailbox()).isFalse();
    assertThat(call(c, "echo", "ef", 5_000)).isEqualTo("fe");
  }

  /** Mailbox files of this process left in /dev/shm. */
  private static List<Path> mailboxFiles() throws Exception {
    Path dir = ShmSegment.directory();
    if (dir == null) {
      return List.of();
    }
    String mine = "batchrpc-data-" + ProcessHandle.current().pid() + "-";
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.getFileName().toString().startsWith(mine)).toList();
    }
  }

}
