package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.grpc.GrpcCalls;
import dev.batchrpc.runtime.testing.SevereLogs;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 11, row 7: a caller that gives up while its gradient waits in an open round takes it back.
 * The gradient is not applied, the trainer's resend is accepted, nothing is logged as SEVERE; with
 * the sum-on-arrival path the round is bit-identical to one that never saw the withdrawn gradient.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CancelledUpdateTest {

  private Vertx vertx;
  private SevereLogs severe;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    ProtobufCodec.register(vertx);
    severe = SevereLogs.capture();
  }

  @AfterEach
  void stop() throws Exception {
    severe.close();
    vertx.close().await(30, TimeUnit.SECONDS);
  }

  private static float[] random(SplittableRandom rnd, int n) {
    float[] g = new float[n];
    for (int i = 0; i < n; i++) {
      g[i] = (float) (rnd.nextDouble() - 0.5);
    }
    return g;
  }

  private static FloatBuffer wire(float[] g) {
    ByteBuffer b = ByteBuffer.allocate(4 * g.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(g);
    return b.asFloatBuffer();
  }

  private static UpdateRequest update(String id, long version, float[] g) {
    return UpdateRequest.newBuilder().setParticipantId(id).setModelVersion(version)
        .setGradients(Tensors.vector(g)).build();
  }

  private static void waitUntil(String what, Callable<Boolean> condition) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.call()) {
      assertThat(System.nanoTime()).as("timed out waiting for " + what).isLessThan(deadline);
      Thread.sleep(5);
    }
  }

  private static void assertBitEqual(float[] actual, float[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    int i = java.util.Arrays.mismatch(actual, expected);
    assertThat(i).as("first difference at %d", i).isEqualTo(-1);
  }

  @Test
  void aGrpcCallWhoseDeadlinePassesInAnOpenRoundLeavesItAndItsResendIsTaken() throws Exception {
    ModelSpec model = ModelSpec.mlp(4, 8, 3);
    PsConfig config = PsConfig.of(2, model).withParticipants("a", "b").withGrpcPort(0);
    ParameterServerVerticle v = new ParameterServerVerticle(config, new SimpleMeterRegistry());
    vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
    ParameterServer ps = v.server().await(30, TimeUnit.SECONDS);
    GrpcClient client = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(config.grpcMaxMessageBytes()));
    SocketAddress at = SocketAddress.inetSocketAddress(v.grpcPort(), "127.0.0.1");
    int p = model.parameterCount();
    SplittableRandom rnd = new SplittableRandom(5);
    float[] abandoned = random(rnd, p);
    float[] resent = random(rnd, p);
    float[] fromB = random(rnd, p);

    GrpcCalls.unary(client, at, ParameterServerGrpcClient.GetModel,
        GetModelRequest.newBuilder().setParticipantId("a").build(), 10_000).await(30, TimeUnit.SECONDS);
    // a's call gives up after 300 ms while its gradient waits for b.
    Future<ModelReply> gaveUp = GrpcCalls.unary(client, at, ParameterServerGrpcClient.UpdateAndFetchModel,
        update("a", 0, abandoned), 300);
    Throwable timedOut = gaveUp.transform(Future::succeededFuture).await(30, TimeUnit.SECONDS).cause();
    assertThat(timedOut).isInstanceOf(RpcException.class);
    waitUntil("a's gradient out of the open round", () -> ps.openArrivals().await(5, TimeUnit.SECONDS) == 0);
    assertThat(ps.version()).isZero();

    // The resend is taken (not a DUPLICATE), and the round holds the resend and b's, nothing else.
    Future<ModelReply> a = GrpcCalls.unary(client, at, ParameterServerGrpcClient.UpdateAndFetchModel,
        update("a", 0, resent), 30_000);
    waitUntil("a's resend in the open round", () -> ps.openArrivals().await(5, TimeUnit.SECONDS) == 1);
    Future<ModelReply> b = GrpcCalls.unary(client, at, ParameterServerGrpcClient.UpdateAndFetchModel,
        update("b", 0, fromB), 30_000);
    ModelReply ra = a.await(30, TimeUnit.SECONDS);
    assertThat(b.await(30, TimeUnit.SECONDS).getModelVersion()).isEqualTo(1);
    assertThat(ra.getModelVersion()).isEqualTo(1);
    assertThat(ra.getRoundSize()).isEqualTo(2);
    try (ParameterStore reference = new ParameterStore(new CpuBackend(), model.initialParameters(config.seed()), 2,
        config.lr(), config.momentum())) {
      reference.step(new FloatBuffer[] {wire(resent), wire(fromB)});
      assertBitEqual(Tensors.toFloats(ra.getParameters()), reference.parameters());
    }
    assertThat(severe.messages()).as("nothing logged as SEVERE").isEmpty();
  }

  /** The same rule on the event bus: the requester's timeout, told in a header, withdraws the gradient. */
  @Test
  void anEventBusRequestWhoseTimeoutPassesInAnOpenRoundLeavesIt() throws Exception {
    ModelSpec model = ModelSpec.mlp(4, 8, 3);
    PsConfig config = PsConfig.of(2, model).withParticipants("a", "b");
    ParameterServerVerticle v = new ParameterServerVerticle(config, new SimpleMeterRegistry());
    vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
    ParameterServer ps = v.server().await(30, TimeUnit.SECONDS);
    int p = model.parameterCount();
    SplittableRandom rnd = new SplittableRandom(6);
    float[] abandoned = random(rnd, p);
    float[] resent = random(rnd, p);
    float[] fromB = random(rnd, p);
    Future<Object> gaveUp = vertx.eventBus().request(dev.batchrpc.proto.Addresses.PS_UPDATE_AND_FETCH,
        update("a", 0, abandoned), ProtobufCodec.options(300)).map(m -> m.body());
    assertThat(gaveUp.transform(Future::succeededFuture).await(30, TimeUnit.SECONDS).failed()).isTrue();
    waitUntil("a's gradient out of the open round", () -> ps.openArrivals().await(5, TimeUnit.SECONDS) == 0);

    Future<ModelReply> a = ps.updateAndFetch(update("a", 0, resent));
    waitUntil("a's resend in the open round", () -> ps.openArrivals().await(5, TimeUnit.SECONDS) == 1);
    ModelReply rb = ps.updateAndFetch(update("b", 0, fromB)).await(30, TimeUnit.SECONDS);
    assertThat(a.await(30, TimeUnit.SECONDS)).isSameAs(rb);
    try (ParameterStore reference = new ParameterStore(new CpuBackend(), model.initialParameters(config.seed()), 2,
        config.lr(), config.momentum())) {
      reference.step(new FloatBuffer[] {wire(resent), wire(fromB)});
      assertBitEqual(Tensors.toFloats(rb.getParameters()), reference.parameters());
    }
  }

  /**
   * A model summed on arrival ({@link ParameterServer#ACCUMULATE_FROM_PARAMETERS}): a gradient
   * already added to the round's running sum and then withdrawn leaves no trace; the round equals,
   * bit for bit, the fused round over the gradients that stayed and the resend.
   */
  @Test
  void aGradientWithdrawnAfterItJoinedTheRunningSumLeavesNoTrace() throws Exception {
    int p = ParameterServer.ACCUMULATE_FROM_PARAMETERS + 5;
    ModelSpec model = ModelSpec.replay(p);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    PsConfig config = PsConfig.of(3, model).withParticipants("t0", "t1", "t2");
    ParameterServerVerticle v = new ParameterServerVerticle(config, meters);
    vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
    ParameterServer ps = v.server().await(30, TimeUnit.SECONDS);
    SplittableRandom rnd = new SplittableRandom(8);
    float[] g0 = random(rnd, p);
    float[] abandoned = random(rnd, p);
    float[] g1 = random(rnd, p);
    float[] g2 = random(rnd, p);

    Future<ModelReply> r0 = ps.updateAndFetch(update("t0", 0, g0), null, null);
    waitUntil("t0 in the round", () -> ps.openArrivals().await(5, TimeUnit.SECONDS) == 1);
    Promise<Void> cancel = Promise.promise();
    Future<ModelReply> gone = ps.updateAndFetch(update("t1", 0, abandoned), cancel.future(), "the test gave up");
    waitUntil("t1's gradient in the running sum",
        () -> meters.find("ps.round.accumulate").timer().count() == 2);
    cancel.complete();
    Throwable why = gone.transform(Future::succeededFuture).await(30, TimeUnit.SECONDS).cause();
    assertThat(why).isInstanceOf(RpcException.class).hasMessageContaining("the test gave up");
    assertThat(ps.openArrivals().await(5, TimeUnit.SECONDS)).isEqualTo(1);

    Future<ModelReply> r1 = ps.updateAndFetch(update("t1", 0, g1), null, null);
    waitUntil("t1's resend in the round", () -> ps.openArrivals().await(5, TimeUnit.SECONDS) == 2);
    Future<ModelReply> r2 = ps.updateAndFetch(update("t2", 0, g2), null, null);
    ModelReply reply = r0.await(30, TimeUnit.SECONDS);
    assertThat(r1.await(30, TimeUnit.SECONDS)).isSameAs(reply);
    assertThat(r2.await(30, TimeUnit.SECONDS)).isSameAs(reply);
    assertThat(reply.getRoundSize()).isEqualTo(3);
    try (ParameterStore reference = new ParameterStore(new CpuBackend(), model.initialParameters(config.seed()), 3,
        config.lr(), config.momentum())) {
      reference.step(new FloatBuffer[] {wire(g0), wire(g1), wire(g2)});
      assertBitEqual(Tensors.toFloats(reply.getParameters()), reference.parameters());
    }
    assertThat(meters.get("ps.round.withdrawn").counter().count()).isEqualTo(1.0);
  }
}
