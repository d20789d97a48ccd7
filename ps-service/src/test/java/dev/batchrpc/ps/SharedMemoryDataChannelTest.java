package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.gradient;
import static dev.batchrpc.ps.ParameterServerVerticleTest.reference;
import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static dev.batchrpc.runtime.testing.LoopbackNodes.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ShmAttach;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.data.ShmSegment;
import io.vertx.core.Future;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The data channel with same-host shared memory ({@link ShmSegment}): every test of
 * {@link DataChannelTest} again with the clients' payloads in shared memory (rounds bit for bit,
 * each bad input refused with its code, buffers released), and the refusals that only shared
 * memory has: a slot that does not hold the frame's call, a slot named without a segment, a
 * segment that is not one.
 */
class SharedMemoryDataChannelTest extends DataChannelTest {

  @Override
  long shmSlotBytes() {
    return 4L * P;
  }

  @Test
  void clientsOnThisHostAttachAndLeaveNoFileBehind() throws Exception {
    DataClient a = connect();
    DataClient b = connect();
    assertThat(a.sharedMemory()).isTrue();
    assertThat(b.sharedMemory()).isTrue();
    assertThat(ourSegmentFiles()).as("each client unlinks its file once the server mapped it").isEmpty();
    assertCleanRound(a, b);
  }

  @Test
  void aClientOnSharedMemoryAndOneOnFramesShareARoundBitForBit() throws Exception {
    DataClient a = connect();
    DataClient b = connect(0);
    assertThat(a.sharedMemory()).isTrue();
    assertThat(b.sharedMemory()).isFalse();
    assertCleanRound(a, b);
  }

  @Test
  void aSegmentOverTheServersLimitIsRefusedAndTheClientKeepsPayloadsInFrames() throws Exception {
    DataClient a = connect(4L * P + 64); // slots larger than any payload the server takes
    assertThat(a.sharedMemory()).isFalse();
    assertThat(ourSegmentFiles()).isEmpty();
    assertCleanRound(a, connect());
  }

  @Test
  void anAttachNamingAnotherFileOrTheWrongNonceIsRefusedAndTheConnectionGoesOn() throws Exception {
    ShmSegment real = ShmSegment.create(2, 4L * P);
    try (Socket s = new Socket(LOOPBACK, verticle.dataPort())) {
      s.setSoTimeout(10_000);
      ShmAttach good = real.attachRequest();
      for (ShmAttach bad : List.of(
          good.toBuilder().setPath("/etc/passwd").build(),
          good.toBuilder().setPath(good.getPath() + "/../" + Path.of(good.getPath()).getFileName()).build(),
          good.toBuilder().setNonce(com.google.protobuf.ByteString.copyFrom(new byte[16])).build(),
          good.toBuilder().setSlots(3).build(),
          good.toBuilder().setSlotBytes(4L * P + 64).build(),
          good.toBuilder().setSlots(100).build())) {
        send(s, DataHeader.newBuilder().setCallId(1).setMethod(ShmSegment.ATTACH_METHOD)
            .setBody(bad.toByteString()).build());
        DataHeader reply = readReply(s.getInputStream());
        assertThat(FailureCode.of(reply.getFailureCode())).as(bad.toString()).isEqualTo(FailureCode.BAD_REQUEST);
        assertThat(reply.getFailureMessage()).startsWith("shared memory not attached");
      }
      // Not attached: a frame that names a slot now breaks the connection's framing.
      send(s, updateHeader(2, "b", 1, 4L * P));
      assertThat(FailureCode.of(readReply(s.getInputStream()).getFailureCode())).isEqualTo(FailureCode.BAD_REQUEST);
      assertThat(drain(s.getInputStream())).isEqualTo(-1);
    } finally {
      real.unlink();
    }
    assertThat(dataServer().pool().leases()).isZero();
    assertCleanRound(connect(), connect());
  }

  /**
   * A frame whose slot holds another call's payload (a peer that reused a slot too early, or
   * lies) is refused UNAVAILABLE; nothing of it joins the round, its buffer goes back, the
   * connection goes on, and the same peer's next well-formed frame joins the round.
   */
  @Test
  void aSlotThatDoesNotHoldTheFramesCallIsRefusedAndNeverJoinsTheRound() throws Exception {
    DataClient a = connect();
    ShmSegment seg = ShmSegment.create(2, 4L * P);
    try (Socket s = new Socket(LOOPBACK, verticle.dataPort())) {
      s.setSoTimeout(20_000);
      send(s, DataHeader.newBuilder().setCallId(1).setMethod(ShmSegment.ATTACH_METHOD)
          .setBody(seg.attachRequest().toByteString()).build());
      assertThat(readReply(s.getInputStream()).getFailureCode()).isZero();
      seg.unlink();
      float[] poison = new float[P];
      java.util.Arrays.fill(poison, 1e6f);
      seg.write(ShmSegment.Region.REQUEST, 0, 5, bytes(poison));
      // Call 6 names slot 1, which holds call 5's payload.
      send(s, updateHeader(6, "b", 1, 4L * P));
      DataHeader refused = readReply(s.getInputStream());
      assertThat(refused.getCallId()).isEqualTo(6);
      assertThat(FailureCode.of(refused.getFailureCode())).isEqualTo(FailureCode.UNAVAILABLE);
      assertThat(refused.getFailureMessage()).contains("does not hold call 6");
      // The stamp right, the length wrong: refused as well.
      seg.write(ShmSegment.Region.REQUEST, 0, 7, bytes(poison));
      send(s, updateHeader(7, "b", 1, 4L * P - 4));
      assertThat(FailureCode.of(readReply(s.getInputStream()).getFailureCode())).isEqualTo(
          FailureCode.SHAPE_MISMATCH);
      // A slot that does not exist.
      send(s, updateHeader(8, "b", 3, 4L * P));
      assertThat(FailureCode.of(readReply(s.getInputStream()).getFailureCode())).isEqualTo(FailureCode.BAD_REQUEST);
      waitFor(() -> dataServer().inFlightBytes() == 0);
      assertThat(ps.openArrivals().await()).isZero();
      // Calls 6 and 8 were copied out before being refused (7 was refused before any copy); the
      // second copy reused the first one's buffer, so it had been given back.
      assertThat(dataServer().pool().leases()).isEqualTo(2);
      assertThat(dataServer().pool().allocations()).isEqualTo(1);

      // The same connection, a well-formed frame: joins the round with "a", bit for bit.
      float[][] gs = {gradient(0, 0), gradient(1, 0)};
      Future<ModelReply> fa = update(a, "a", 0, gs[0]);
      seg.write(ShmSegment.Region.REQUEST, 1, 9, bytes(gs[1]));
      send(s, updateHeader(9, "b", 2, 4L * P));
      DataHeader ok = readReply(s.getInputStream());
      assertThat(ok.getFailureCode()).as(ok.getFailureMessage()).isZero();
      assertThat(ok.getShmSlot()).as("the reply comes back in the request's slot").isEqualTo(2);
      ByteBuffer model = ByteBuffer.allocateDirect((int) ok.getShmLength()).order(ByteOrder.LITTLE_ENDIAN);
      seg.read(ShmSegment.Region.REPLY, 1, 9, ok.getShmLength(), model);
      float[] expected = reference(MODEL.initialParameters(0), List.<float[][]>of(gs))[0];
      float[] got = new float[P];
      model.flip().asFloatBuffer().get(got);
      assertThat(got).containsExactly(expected);
      assertThat(Tensors.toFloats(await(fa, 20).getParameters())).containsExactly(expected);
    }
    assertThat(ps.version()).isEqualTo(1);
  }

  private static DataHeader updateHeader(long callId, String id, int slot, long length) {
    UpdateRequest body = UpdateRequest.newBuilder().setParticipantId(id).setModelVersion(0)
        .setGradients(Tensor.newBuilder().addShape(P)).build();
    return DataHeader.newBuilder().setCallId(callId).setMethod(Addresses.PS_UPDATE_AND_FETCH)
        .setBody(body.toByteString()).setShmSlot(slot).setShmLength(length).build();
  }

  private static void send(Socket s, DataHeader header) throws IOException {
    byte[] h = header.toByteArray();
    DataOutputStream out = new DataOutputStream(s.getOutputStream());
    out.writeInt(h.length);
    out.writeLong(0);
    out.write(h);
    out.flush();
  }

  private static ByteBuffer bytes(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b;
  }

  private static List<Path> ourSegmentFiles() throws IOException {
    Path dir = ShmSegment.directory();
    if (dir == null) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.getFileName().toString().startsWith(
          "batchrpc-data-" + ProcessHandle.current().pid() + "-")).toList();
    }
  }
}
