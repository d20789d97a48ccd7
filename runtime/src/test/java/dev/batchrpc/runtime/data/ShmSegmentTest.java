package dev.batchrpc.runtime.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.proto.v1.ShmAttach;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The shared-memory segment of a data-channel connection: what a reader takes is exactly the
 * writer's call's bytes or a refusal; a server maps only a segment that is one; a client whose
 * reply slot holds something else fails that call and keeps the connection.
 */
class ShmSegmentTest {

  private static final int SLOT = 4096;

  @BeforeEach
  void needsSharedMemory() {
    assumeTrue(ShmSegment.directory() != null, "no writable /dev/shm on this machine");
  }

  private ShmSegment created;
  private Vertx vertx;

  @AfterEach
  void cleanUp() {
    if (created != null) {
      created.unlink();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  private static ByteBuffer bytes(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(n);
    for (int i = 0; i < n; i++) {
      b.put((byte) (i * 31 + seed));
    }
    return b.flip();
  }

  @Test
  void aPayloadReadBackIsTheWrittenCallsBytesAndAnythingElseIsRefused() throws Exception {
    created = ShmSegment.create(2, SLOT);
    ShmSegment server = ShmSegment.attach(created.attachRequest(), SLOT);
    ByteBuffer payload = bytes(1000, 3);
    created.write(ShmSegment.Region.REQUEST, 1, 42, payload);
    assertThat(payload.position()).as("the source is not consumed").isZero();

    ByteBuffer out = ByteBuffer.allocateDirect(1000);
    server.read(ShmSegment.Region.REQUEST, 1, 42, 1000, out);
    assertThat(out.flip()).isEqualTo(bytes(1000, 3));

    // Another call's id, another length, another slot, the other half: refused, for that call.
    assertThatThrownBy(() -> server.read(ShmSegment.Region.REQUEST, 1, 43, 1000, ByteBuffer.allocate(1000)))
        .isInstanceOfSatisfying(FrameException.class, e -> {
          assertThat(e.code()).isEqualTo(FailureCode.UNAVAILABLE);
          assertThat(e.callId()).isEqualTo(43);
          assertThat(e.fatal()).isFalse();
        });
    assertThatThrownBy(() -> server.read(ShmSegment.Region.REQUEST, 1, 42, 999, ByteBuffer.allocate(1000)))
        .isInstanceOf(FrameException.class).hasMessageContaining("does not hold call 42's 999 bytes");
    assertThatThrownBy(() -> server.read(ShmSegment.Region.REQUEST, 0, 42, 1000, ByteBuffer.allocate(1000)))
        .isInstanceOf(FrameException.class);
    assertThatThrownBy(() -> server.read(ShmSegment.Region.REPLY, 1, 42, 1000, ByteBuffer.allocate(1000)))
        .isInstanceOf(FrameException.class);
    assertThatThrownBy(() -> server.read(ShmSegment.Region.REQUEST, 2, 42, 1000, ByteBuffer.allocate(1000)))
        .isInstanceOfSatisfying(FrameException.class, e -> assertThat(e.code()).isEqualTo(FailureCode.BAD_REQUEST));
    assertThatThrownBy(() -> server.read(ShmSegment.Region.REQUEST, 1, 42, SLOT + 1, ByteBuffer.allocate(SLOT + 1)))
        .isInstanceOf(FrameException.class).hasMessageContaining("does not fit");

    // The reply half, written by the server, read by the client's mapping.
    server.write(ShmSegment.Region.REPLY, 0, 7, bytes(SLOT, 9));
    ByteBuffer reply = ByteBuffer.allocate(SLOT);
    created.read(ShmSegment.Region.REPLY, 0, 7, SLOT, reply);
    assertThat(reply.flip()).isEqualTo(bytes(SLOT, 9));
  }

  /**
   * A reader racing a writer that keeps rewriting the slot (call ids only grow, as a client's do)
   * never takes a mix of two payloads: what it takes is all of the call it asked for.
   */
  @Test
  void aReaderRacingAWriterTakesWholePayloadsOrRefuses() throws Exception {
    created = ShmSegment.create(1, SLOT);
    ShmSegment reader = ShmSegment.attach(created.attachRequest(), SLOT);
    created.write(ShmSegment.Region.REQUEST, 0, 1, filled((byte) 1));
    CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
      for (int call = 2; call < 20_000; call++) {
        created.write(ShmSegment.Region.REQUEST, 0, call, filled((byte) call));
      }
    });
    int taken = 0;
    int refused = 0;
    ByteBuffer out = ByteBuffer.allocateDirect(SLOT);
    while (!writer.isDone()) {
      long call = reader.callIn(ShmSegment.Region.REQUEST, 0);
      out.clear();
      try {
        reader.read(ShmSegment.Region.REQUEST, 0, call, SLOT, out);
      } catch (FrameException e) {
        refused++;
        continue;
      }
      taken++;
      for (int i = 0; i < SLOT; i++) {
        if (out.get(i) != (byte) call) {
          throw new AssertionError("a torn payload was taken for call " + call + ": byte " + i + " is " + out.get(i));
        }
      }
    }
    writer.get(30, TimeUnit.SECONDS);
    assertThat(taken + refused).isPositive();
  }

  private static ByteBuffer filled(byte b) {
    ByteBuffer buf = ByteBuffer.allocate(SLOT);
    while (buf.hasRemaining()) {
      buf.put(b);
    }
    return buf.flip();
  }

  @Test
  void aServerMapsOnlyARealSegmentOfThisUser() throws Exception {
    created = ShmSegment.create(2, SLOT);
    ShmAttach good = created.attachRequest();
    Path dir = ShmSegment.directory();
    Path link = dir.resolve("batchrpc-data-" + ProcessHandle.current().pid() + "-" + "0".repeat(32));
    Files.deleteIfExists(link);
    Files.createSymbolicLink(link, Path.of(good.getPath()));
    try {
      for (ShmAttach bad : new ShmAttach[] {
          good.toBuilder().setPath(link.toString()).build(), // a link to a real one
          good.toBuilder().setPath("/tmp/" + Path.of(good.getPath()).getFileName()).build(),
          good.toBuilder().setPath(dir.resolve("libpod_lock").toString()).build(),
          good.toBuilder().setNonce(ByteString.copyFrom(new byte[16])).build(),
          good.toBuilder().setSlots(1).build(),
          good.toBuilder().setSlotBytes(SLOT + 64).build(),
          good.toBuilder().setSlots(0).build()}) {
        assertThatThrownBy(() -> ShmSegment.attach(bad, 1 << 20)).as(bad.toString())
            .isInstanceOfSatisfying(RpcException.class, e -> assertThat(e.code()).isEqualTo(FailureCode.BAD_REQUEST));
      }
      // Slots larger than the server takes.
      assertThatThrownBy(() -> ShmSegment.attach(good, SLOT - 1)).isInstanceOf(RpcException.class)
          .hasMessageContaining("at most " + (SLOT - 1));
      assertThat(ShmSegment.attach(good, SLOT).slots()).isEqualTo(2);
    } finally {
      Files.deleteIfExists(link);
    }
    created.unlink();
    assertThat(Files.exists(Path.of(good.getPath()))).isFalse();
  }

  @Test
  void aDeadProcessesSegmentIsSweptAndALiveOnesKept() throws Exception {
    Path dir = ShmSegment.directory();
    long dead = deadPid();
    Path stale = dir.resolve("batchrpc-data-" + dead + "-" + "ab".repeat(16));
    Path live = dir.resolve("batchrpc-data-" + ProcessHandle.current().pid() + "-" + "cd".repeat(16));
    Files.write(stale, new byte[8]);
    Files.write(live, new byte[8]);
    try {
      ShmSegment.sweepStale(dir);
      assertThat(Files.exists(stale)).isFalse();
      assertThat(Files.exists(live)).isTrue();
    } finally {
      Files.deleteIfExists(stale);
      Files.deleteIfExists(live);
    }
  }

  private static long deadPid() throws Exception {
    Process p = new ProcessBuilder("true").start();
    p.waitFor(10, TimeUnit.SECONDS);
    return p.pid();
  }

  /**
   * A client whose reply slot does not hold its call's model (a server that answers with
   * another call's stamp) fails that call UNAVAILABLE, and its next call on the same connection
   * is answered.
   */
  @Test
  void aReplyWhoseSlotHoldsAnotherCallFailsThatCallAndTheConnectionGoesOn() throws Exception {
    vertx = Vertx.vertx();
    try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
        try (Socket s = listener.accept()) {
          DataInputStream in = new DataInputStream(s.getInputStream());
          DataOutputStream out = new DataOutputStream(s.getOutputStream());
          DataHeader attach = readFrame(in);
          ShmSegment seg = ShmSegment.attach(ShmAttach.parseFrom(attach.getBody()), SLOT);
          writeFrame(out, Frames.reply(attach.getCallId(), ByteString.EMPTY));
          DataHeader first = readFrame(in);
          ByteBuffer got = ByteBuffer.allocate((int) first.getShmLength());
          seg.read(ShmSegment.Region.REQUEST, first.getShmSlot() - 1, first.getCallId(), first.getShmLength(), got);
          // Answer with a wrong stamp in the reply slot.
          seg.write(ShmSegment.Region.REPLY, first.getShmSlot() - 1, first.getCallId() + 100, got.flip());
          writeFrame(out, Frames.reply(first.getCallId(), ByteString.EMPTY, first.getShmSlot(), got.remaining()));
          DataHeader second = readFrame(in);
          ByteBuffer echo = ByteBuffer.allocate((int) second.getShmLength());
          seg.read(ShmSegment.Region.REQUEST, second.getShmSlot() - 1, second.getCallId(), second.getShmLength(),
              echo);
          seg.write(ShmSegment.Region.REPLY, second.getShmSlot() - 1, second.getCallId(), echo.flip());
          writeFrame(out, Frames.reply(second.getCallId(), ByteString.EMPTY, second.getShmSlot(), echo.remaining()));
          in.readInt(); // hold the connection until the client closes it
        } catch (IOException e) {
          // the client closed the connection
        }
      });
      BufferPool pool = new BufferPool(1 << 20);
      DataClient client = DataClient.connect(vertx, "127.0.0.1", listener.getLocalPort(), SLOT, pool, SLOT)
          .await(10, TimeUnit.SECONDS);
      assertThat(client.sharedMemory()).isTrue();
      Future<DataClient.Response> torn = client.call("echo", ByteString.EMPTY, bytes(SLOT, 1), 10_000);
      Throwable t = torn.transform(Future::succeededFuture).await(10, TimeUnit.SECONDS).cause();
      assertThat(t).isInstanceOfSatisfying(RpcException.class, e -> {
        assertThat(e.code()).isEqualTo(FailureCode.UNAVAILABLE);
        assertThat(e.getMessage()).contains("does not hold call");
      });
      assertThat(client.isOpen()).isTrue();
      DataClient.Response ok = client.call("echo", ByteString.EMPTY, bytes(100, 5), 10_000)
          .await(10, TimeUnit.SECONDS);
      assertThat(ok.payload()).isEqualTo(bytes(100, 5));
      client.close();
      server.get(10, TimeUnit.SECONDS);
    }
  }

  private static DataHeader readFrame(DataInputStream in) throws IOException {
    int h = in.readInt();
    long l = in.readLong();
    assertThat(l).as("payloads travel in shared memory").isZero();
    byte[] header = new byte[h];
    in.readFully(header);
    return DataHeader.parseFrom(header);
  }

  private static void writeFrame(DataOutputStream out, DataHeader header) throws IOException {
    byte[] h = header.toByteArray();
    out.writeInt(h.length);
    out.writeLong(0);
    out.write(h);
    out.flush();
  }
}
