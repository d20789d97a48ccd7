package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.gradient;
import static dev.batchrpc.ps.ParameterServerVerticleTest.reference;
import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static dev.batchrpc.runtime.testing.LoopbackNodes.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.data.DataServer;
import dev.batchrpc.runtime.data.TensorPayload;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The parameter server's data channel (tensor bytes off the event bus): rounds through it give
 * exactly the direct average + SGD step, and every kind of bad frame is refused with its code
 * while the round and the model stay unharmed and received buffers are released.
 */
@ExtendWith(LoopbackNodes.class)
class DataChannelTest {

  static final int P = ParameterServerVerticleTest.P;
  static final ModelSpec MODEL = ModelSpec.replay(P);
  static final long TIMEOUT_MS = 20_000;

  Node node;
  ParameterServerVerticle verticle;
  ParameterServer ps;
  final List<DataClient> clients = new ArrayList<>();

  @BeforeEach
  void startServer() throws Exception {
    node = await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName("data"), Ports.freePort(),
        List.of())), 60);
    verticle = new ParameterServerVerticle(PsConfig.of(2, MODEL).withParticipants("a", "b", "c"),
        node.registry());
    await(node.vertx().deployVerticle(verticle), 30);
    ps = await(verticle.server(), 10);
    assertThat(verticle.dataPort()).isPositive();
  }

  @AfterEach
  void stop() throws Exception {
    for (DataClient c : clients) {
      c.close();
    }
    LoopbackNodes.closeAll(List.of(node));
  }

  /**
   * The payload size the clients offer to send through shared memory: none here (payloads in the
   * frames); {@link SharedMemoryDataChannelTest} runs every test of this class again with it.
   */
  long shmSlotBytes() {
    return 0;
  }

  DataClient connect() throws Exception {
    return connect(shmSlotBytes());
  }

  /**
   * The server's Unix-domain socket the clients connect through: none here (TCP);
   * {@link LocalSocketDataChannelTest} runs every test of this class again through it.
   */
  String localPath() {
    return null;
  }

  DataClient connect(long shmSlotBytes) throws Exception {
    DataClient c = await(DataClient.connect(node.vertx(), LOOPBACK, verticle.dataPort(), 4L * P,
        new BufferPool(8L * P), shmSlotBytes, localPath()), 10);
    clients.add(c);
    return c;
  }

  static Future<ModelReply> update(DataClient c, String id, long version, float[] g) {
    UpdateRequest q = UpdateRequest.newBuilder().setParticipantId(id).setModelVersion(version)
        .setGradients(Tensors.vector(g)).build();
    TensorPayload.Split parts = TensorPayload.split(q);
    return c.call(Addresses.PS_UPDATE_AND_FETCH, parts.body().toByteString(), TensorPayload.view(parts.data()),
        TIMEOUT_MS).map(DataChannelTest::model);
  }

  static ModelReply model(DataClient.Response r) {
    try {
      return TensorPayload.join(ModelReply.parseFrom(r.body()), r.payload());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static FailureCode refusal(Future<?> f) throws Exception {
    Throwable t = LoopbackNodes.outcome(f, TIMEOUT_MS);
    assertThat(t).as("the call must be refused").isInstanceOf(RpcException.class);
    return ((RpcException) t).code();
  }

  DataServer dataServer() {
    return verticle.dataServer();
  }

  @Test
  void aModelInitServerStartsItsDataChannelOnceInitModelGaveItAModel() throws Exception {
    Node other = await(Nodes.start(LoopbackNodes.config(LoopbackNodes.clusterName("data-init"), Ports.freePort(),
        List.of())), 60);
    try {
      ParameterServerVerticle init = new ParameterServerVerticle(PsConfig.of(1, ModelSpec.awaitingInit(10 * P)),
          other.registry());
      await(other.vertx().deployVerticle(init), 30);
      assertThat(init.hasModel()).isFalse();
      assertThat(init.dataPort()).as("no model, no data channel yet").isEqualTo(-1);
      float[] initial = MODEL.initialParameters(3);
      dev.batchrpc.proto.v1.InitModelRequest q = dev.batchrpc.proto.v1.InitModelRequest.newBuilder()
          .addAllTensors(MODEL.layout().toProto()).setValues(Tensors.vector(initial)).build();
      await(other.vertx().eventBus().request(Addresses.PS_INIT_MODEL, q, dev.batchrpc.proto.ProtobufCodec.options()),
          10);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (init.dataPort() < 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(init.dataPort()).as("the data channel starts with the model").isPositive();
      DataClient c = await(DataClient.connect(other.vertx(), LOOPBACK, init.dataPort(), 4L * P,
          new BufferPool(8L * P)), 10);
      clients.add(c);
      ModelReply first = model(await(c.call(Addresses.PS_GET_MODEL,
          GetModelRequest.newBuilder().setParticipantId("t").build().toByteString(), null, TIMEOUT_MS), 10));
      assertThat(Tensors.toFloats(first.getParameters())).containsExactly(initial);
      float[] g = gradient(0, 0);
      ModelReply next = await(update(c, "t", 0, g), 10);
      assertThat(Tensors.toFloats(next.getParameters()))
          .containsExactly(reference(initial, List.<float[][]>of(new float[][] {g}))[0]);
    } finally {
      for (DataClient c : clients) {
        c.close();
      }
      clients.clear();
      LoopbackNodes.closeAll(List.of(other));
    }
  }

  @Test
  void roundsThroughTheDataChannelEqualTheDirectStep() throws Exception {
    DataClient a = connect();
    DataClient b = connect();
    ModelReply first = model(await(a.call(Addresses.PS_GET_MODEL,
        GetModelRequest.newBuilder().setParticipantId("a").build().toByteString(), null, TIMEOUT_MS), 10));
    assertThat(Tensors.toFloats(first.getParameters())).containsExactly(MODEL.initialParameters(0));
    List<float[][]> rounds = new ArrayList<>();
    for (int r = 0; r < 6; r++) {
      float[][] gs = {gradient(0, r), gradient(1, r)};
      rounds.add(gs);
      Future<ModelReply> fa = update(a, "a", r, gs[0]);
      Future<ModelReply> fb = update(b, "b", r, gs[1]);
      ModelReply ra = await(fa, 20);
      ModelReply rb = await(fb, 20);
      assertThat(ra.getModelVersion()).isEqualTo(r + 1);
      // Two gradients: the sum is the same in either arrival order, so bit-identity is exact.
      float[] expected = reference(MODEL.initialParameters(0), rounds)[r];
      assertThat(Tensors.toFloats(ra.getParameters())).containsExactly(expected);
      assertThat(Tensors.toFloats(rb.getParameters())).containsExactly(expected);
    }
    // Every received gradient was received into a pooled buffer and given back: after the first
    // round the same buffers serve again.
    assertThat(dataServer().inFlightBytes()).isZero();
    assertThat(dataServer().pool().leases()).isEqualTo(12);
    assertThat(dataServer().pool().allocations()).isLessThanOrEqualTo(2);
    // Each round's reply was encoded once into a pooled buffer, reused once both writes of it
    // were done and a newer model was out: a handful of buffers for six rounds.
    assertThat(ps.replyPool().leases()).isEqualTo(6);
    assertThat(ps.replyPool().allocations()).isLessThanOrEqualTo(3);
  }

  @Test
  void aReplyThatAlsoWentOverTheEventBusIsNeverReused() throws Exception {
    DataClient a = connect();
    List<float[][]> rounds = new ArrayList<>();
    List<ModelReply> heldByB = new ArrayList<>();
    for (int r = 0; r < 5; r++) {
      float[][] gs = {gradient(0, r), gradient(1, r)};
      rounds.add(gs);
      Future<ModelReply> fa = update(a, "a", r, gs[0]);
      Future<ModelReply> fb = ParameterServerVerticleTest.send(node.vertx(),
          ParameterServerVerticleTest.update("b", r, gs[1]));
      await(fa, 20);
      heldByB.add(await(fb, 20));
    }
    // The event bus handed "b" the reply objects themselves: none of their buffers went back to
    // the pool, so every reply "b" still holds reads the model of its own round.
    float[][] expected = reference(MODEL.initialParameters(0), rounds);
    for (int r = 0; r < heldByB.size(); r++) {
      assertThat(Tensors.toFloats(heldByB.get(r).getParameters())).as("round %d", r).containsExactly(expected[r]);
    }
    assertThat(ps.replyPool().allocations()).isEqualTo(5);
  }

  /** Round 1 of "a" and "b" completes with exactly the direct step of their two gradients. */
  void assertCleanRound(DataClient a, DataClient b) throws Exception {
    float[][] gs = {gradient(0, 0), gradient(1, 0)};
    Future<ModelReply> fa = update(a, "a", 0, gs[0]);
    Future<ModelReply> fb = update(b, "b", 0, gs[1]);
    float[] expected = reference(MODEL.initialParameters(0), List.<float[][]>of(gs))[0];
    assertThat(Tensors.toFloats(await(fa, 20).getParameters())).containsExactly(expected);
    assertThat(Tensors.toFloats(await(fb, 20).getParameters())).containsExactly(expected);
    assertThat(ps.version()).isEqualTo(1);
    assertThat(dataServer().inFlightBytes()).isZero();
  }

  /**
   * Issue 11, row 7: a trainer whose connection closes while its gradient waits in the open round
   * takes it back: not applied, its buffer released, and its resend (on a new connection) taken.
   */
  @Test
  void aConnectionClosedWhileItsGradientWaitsInTheOpenRoundWithdrawsIt() throws Exception {
    DataClient gone = connect();
    Future<ModelReply> abandoned = update(gone, "a", 0, gradient(7, 0));
    waitFor(() -> ps.openArrivals().await() == 1);
    gone.close();
    waitFor(() -> ps.openArrivals().await() == 0);
    assertThat(abandoned.transform(Future::succeededFuture).await(20, java.util.concurrent.TimeUnit.SECONDS).failed())
        .isTrue();
    waitFor(() -> dataServer().inFlightBytes() == 0);
    assertThat(ps.version()).isZero();
    // The resend of "a" is not a duplicate, and the round holds only the resend and "b".
    assertCleanRound(connect(), connect());
  }

  @Test
  void aPayloadOfTheWrongSizeIsRefusedUnreadAndTheConnectionGoesOn() throws Exception {
    DataClient a = connect();
    DataClient b = connect();
    assertThat(refusal(update(a, "a", 0, new float[P - 1]))).isEqualTo(FailureCode.SHAPE_MISMATCH);
    assertThat(refusal(update(a, "a", 0, new float[1]))).isEqualTo(FailureCode.SHAPE_MISMATCH);
    // Neither was buffered: no lease was taken for them, and the connection serves on.
    assertThat(dataServer().pool().leases()).isZero();
    assertCleanRound(a, b);
    // Longer than the model: over the limit of any frame, refused before buffering, and the
    // connection, whose framing can no longer be trusted, is closed.
    assertThat(refusal(update(a, "a", 1, new float[P + 7]))).isEqualTo(FailureCode.TOO_LARGE);
    waitFor(() -> !a.isOpen());
    assertThat(dataServer().pool().leases()).isEqualTo(2);
  }

  @Test
  void badRequestsAreRefusedWithTheirCodesAndTheRoundIsUnharmed() throws Exception {
    DataClient a = connect();
    DataClient b = connect();
    DataClient c = connect();
    float[] nan = gradient(2, 0);
    nan[P / 2] = Float.NaN;
    assertThat(refusal(update(c, "c", 0, nan))).isEqualTo(FailureCode.NON_FINITE);
    assertThat(refusal(update(c, "stranger", 0, gradient(2, 0)))).isEqualTo(FailureCode.UNKNOWN_PARTICIPANT);
    assertThat(refusal(update(c, "c", 5, gradient(2, 0)))).isEqualTo(FailureCode.FUTURE_VERSION);
    assertThat(refusal(update(c, "bad id!", 0, gradient(2, 0)))).isEqualTo(FailureCode.BAD_REQUEST);
    assertThat(refusal(c.call("ps.no-such-method", ByteString.EMPTY, null, TIMEOUT_MS)))
        .isEqualTo(FailureCode.BAD_REQUEST);
    assertThat(refusal(c.call(Addresses.PS_UPDATE_AND_FETCH, ByteString.copyFrom(new byte[] {0x0A, 0x7F, 'x'}),
        ByteBuffer.allocate(4 * P), TIMEOUT_MS))).isEqualTo(FailureCode.BAD_REQUEST);
    assertThat(refusal(c.call(Addresses.PS_GET_MODEL, ByteString.EMPTY, ByteBuffer.allocate(8), TIMEOUT_MS)))
        .isEqualTo(FailureCode.BAD_REQUEST);
    // A duplicate: "a" twice in the open round; the first stays, the second is refused.
    Future<ModelReply> fa = update(a, "a", 0, gradient(0, 0));
    waitFor(() -> ps.openArrivals().toCompletionStage().toCompletableFuture().join() == 1);
    assertThat(refusal(update(c, "a", 0, gradient(0, 0)))).isEqualTo(FailureCode.DUPLICATE);
    Future<ModelReply> fb = update(b, "b", 0, gradient(1, 0));
    float[] expected = reference(MODEL.initialParameters(0),
        List.<float[][]>of(new float[][] {gradient(0, 0), gradient(1, 0)}))[0];
    assertThat(Tensors.toFloats(await(fa, 20).getParameters())).containsExactly(expected);
    assertThat(Tensors.toFloats(await(fb, 20).getParameters())).containsExactly(expected);
    assertThat(ps.version()).isEqualTo(1);
    // Every refused payload that had been received went back to the pool.
    waitFor(() -> dataServer().inFlightBytes() == 0);
  }

  @Test
  void aHugeLengthPrefixIsRefusedBeforeBufferingAndTheConnectionClosed() throws Exception {
    try (Socket s = new Socket(LOOPBACK, verticle.dataPort())) {
      DataOutputStream out = new DataOutputStream(s.getOutputStream());
      byte[] header = DataHeader.newBuilder().setCallId(7).setMethod(Addresses.PS_UPDATE_AND_FETCH).build()
          .toByteArray();
      out.writeInt(header.length);
      out.writeLong(2L << 30); // 2 GiB claimed
      out.write(header);
      out.flush();
      DataHeader reply = readReply(s.getInputStream());
      assertThat(FailureCode.of(reply.getFailureCode())).isEqualTo(FailureCode.TOO_LARGE);
      assertThat(reply.getFailureMessage()).contains("refused before buffering");
      s.setSoTimeout(10_000);
      assertThat(drain(s.getInputStream())).as("the server closes the connection").isEqualTo(-1);
    }
    assertThat(dataServer().pool().leases()).isZero();
    assertCleanRound(connect(), connect());
  }

  @Test
  void anUndecodableHeaderClosesTheConnection() throws Exception {
    try (Socket s = new Socket(LOOPBACK, verticle.dataPort())) {
      DataOutputStream out = new DataOutputStream(s.getOutputStream());
      out.writeInt(3);
      out.writeLong(0);
      out.write(new byte[] {0x0A, 0x7F, 'x'});
      out.flush();
      DataHeader reply = readReply(s.getInputStream());
      assertThat(FailureCode.of(reply.getFailureCode())).isEqualTo(FailureCode.BAD_REQUEST);
      s.setSoTimeout(10_000);
      assertThat(drain(s.getInputStream())).isEqualTo(-1);
    }
    assertCleanRound(connect(), connect());
  }

  @Test
  void aStreamCutInTheMiddleOfAGradientNeverJoinsTheRound() throws Exception {
    DataClient a = connect();
    try (Socket s = new Socket(LOOPBACK, verticle.dataPort())) {
      UpdateRequest body = UpdateRequest.newBuilder().setParticipantId("b").setModelVersion(0)
          .setGradients(Tensor.newBuilder().addShape(P)).build();
      byte[] header = DataHeader.newBuilder().setCallId(1).setMethod(Addresses.PS_UPDATE_AND_FETCH)
          .setBody(body.toByteString()).build().toByteArray();
      DataOutputStream out = new DataOutputStream(s.getOutputStream());
      out.writeInt(header.length);
      out.writeLong(4L * P);
      out.write(header);
      ByteBuffer half = ByteBuffer.allocate(2 * P).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < P / 2; i++) {
        half.putFloat(1e6f);
      }
      out.write(half.array());
      out.flush();
      waitFor(() -> dataServer().pool().leases() == 1);
    } // cut: closed in the middle of the payload
    waitFor(() -> dataServer().inFlightBytes() == 0);
    assertThat(ps.openArrivals().await(5, TimeUnit.SECONDS)).isZero();
    // "b" was never in the round: the round of "a" and "b" that follows is clean.
    assertCleanRound(a, connect());
  }

  static DataHeader readReply(InputStream in) throws IOException {
    DataInputStream d = new DataInputStream(in);
    int h = d.readInt();
    long l = d.readLong();
    assertThat(l).isZero();
    byte[] header = new byte[h];
    d.readFully(header);
    return DataHeader.parseFrom(header);
  }

  /** Reads until the end of the stream; -1 when the peer closed it. */
  static int drain(InputStream in) throws IOException {
    byte[] buf = new byte[4096];
    while (true) {
      int n = in.read(buf);
      if (n < 0) {
        return -1;
      }
    }
  }

  static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition not met within 10 s").isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  @Test
  void aBusyDataPortFailsTheDeploymentNamingTheFlagAndThePort() throws Exception {
    try (java.net.ServerSocket busy = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName(LOOPBACK))) {
      int port = busy.getLocalPort();
      ParameterServerVerticle second = new ParameterServerVerticle(PsConfig.of(2, MODEL), null,
          new dev.batchrpc.runtime.data.DataChannelConfig(LOOPBACK, null, port));
      Throwable failed = LoopbackNodes.outcome(node.vertx().deployVerticle(second), 20_000);
      assertThat(failed).hasMessageContaining("--data-port").hasMessageContaining(LOOPBACK + ":" + port)
          .hasMessageContaining("address in use");
    }
  }
}
