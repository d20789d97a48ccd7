package dev.batchrpc.runtime.data;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.runtime.node.LoopPollers;
import io.vertx.core.Context;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A data-channel connection's same-host mailbox for small calls (an observer's steps): the call's
 * whole frame header goes into shared memory, the reply's comes back there, and neither side makes
 * a system call while the other's event loop polls ({@code --spin-us}, {@link LoopPollers}). A
 * loop that stops polling and blocks sets its "asleep" flag first, then looks once more; a peer
 * that writes into the mailbox and finds the flag set clears it and sends one byte-sized frame on
 * the socket ({@link #POKE_METHOD}), which wakes the loop (the futex pattern, with the socket for
 * the futex).
 *
 * <p>Why: an observer's step is a few dozen bytes, and on the socket each costs both sides a
 * write, a read and a wake-up per message; in a batch round the agent's ten reads and ten writes
 * are on the round's critical path (docs/benchmarks/rl.md).
 *
 * <p>It is a {@link ShmSegment} of one slot ({@link #SLOT_BYTES}) with its checks: created by the
 * client, attached by the server ({@link #ATTACH_METHOD}) only if the file is this user's, in
 * {@code /dev/shm}, with the nonce, and only if the server's loop polls (otherwise nobody would
 * look; the connection keeps to frames). A header that does not fit, a second call while one is
 * in the mailbox, and any call with a payload go in frames as before.
 *
 * <p>One call at a time: the client writes a request only when the previous one is answered; the
 * server takes a new request only after it wrote the previous answer. Each slot's stamp is the
 * call id (a seqlock, as in {@link ShmSegment}): the server takes a request whose stamp is higher
 * than the last it took, the client the reply stamped with its call's id; a torn or foreign read
 * is not used.
 */
final class StepMailbox {

  /** The method of the call that offers the mailbox (body: {@code ShmAttach}). */
  static final String ATTACH_METHOD = "data.attach-mailbox";
  /** A frame with no call (id 0) and this method wakes the peer's loop to look at the mailbox. */
  static final String POKE_METHOD = "data.poke";
  /** The largest request or reply header through the mailbox. */
  static final long SLOT_BYTES = 16 * 1024;

  /** System property: {@code false} keeps a client from offering a mailbox (its calls stay in frames). */
  static final String ENABLED_PROPERTY = "batchrpc.data.mailbox";

  private static final int SERVER_ASLEEP = 0;
  private static final int CLIENT_ASLEEP = 1;

  private StepMailbox() {
  }

  /** Whether clients offer a mailbox ({@link #ENABLED_PROPERTY}, default true). */
  static boolean enabled() {
    return !"false".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY, "true").trim());
  }

  /** A poke frame's header. */
  static DataHeader poke() {
    return DataHeader.newBuilder().setMethod(POKE_METHOD).build();
  }

  /** Creates a client's mailbox segment (the caller offers it with {@link ATTACH_METHOD} and unlinks it after). */
  static ShmSegment create() throws IOException {
    return ShmSegment.create(1, SLOT_BYTES);
  }

  /**
   * Reads the header stamped {@code callId} from a slot, or null if the slot does not hold it
   * whole (being written, or rewritten meanwhile).
   */
  private static DataHeader read(ShmSegment segment, ShmSegment.Region region, long callId) {
    long length = segment.lengthIn(region, 0);
    if (length < 0 || length > SLOT_BYTES) {
      return null;
    }
    ByteBuffer copy = ByteBuffer.allocate((int) length);
    try {
      segment.read(region, 0, callId, length, copy);
    } catch (FrameException e) {
      return null;
    }
    try {
      DataHeader h = DataHeader.parseFrom(copy.flip());
      return h.getCallId() == callId ? h : Frames.failure(callId, FailureCode.BAD_REQUEST,
          "a mailbox header for call " + callId + " names call " + h.getCallId());
    } catch (InvalidProtocolBufferException e) {
      return Frames.failure(callId, FailureCode.BAD_REQUEST, "a malformed header in the mailbox: " + e.getMessage());
    }
  }

  /** The client's side: sends a call through the mailbox, finds its answer there. */
  static final class Client implements LoopPollers.Poller {
    private final ShmSegment segment;
    private final Context context;
    private final Consumer<DataHeader> answered;
    private final Runnable poke;
    /** The call in the mailbox, 0 when it is free. */
    private final AtomicLong waiting = new AtomicLong();
    /** Whether a task to take the answer is queued (loop thread only). */
    private boolean scheduled;
    /** Calls sent through the mailbox, pokes sent, pokes received (for tests and logs). */
    final AtomicLong sent = new AtomicLong();
    final AtomicLong poked = new AtomicLong();
    final AtomicLong woken = new AtomicLong();

    /**
     * @param context the connection's context (on the polling loop)
     * @param answered takes a call's answer, on that context
     * @param poke sends a poke frame to the server
     */
    Client(ShmSegment segment, Context context, Consumer<DataHeader> answered, Runnable poke) {
      this.segment = segment;
      this.context = context;
      this.answered = answered;
      this.poke = poke;
    }

    /**
     * Puts a call's header into the mailbox (from any thread).
     *
     * @return false when the mailbox holds another call or the header does not fit: send a frame
     */
    boolean trySend(DataHeader header) {
      byte[] bytes = header.toByteArray();
      if (bytes.length > SLOT_BYTES || !waiting.compareAndSet(0, header.getCallId())) {
        return false;
      }
      segment.write(ShmSegment.Region.REQUEST, 0, header.getCallId(), ByteBuffer.wrap(bytes));
      sent.incrementAndGet();
      if (segment.takeFlag(SERVER_ASLEEP)) {
        poked.incrementAndGet();
        poke.run();
      }
      return true;
    }

    /** The server's poke came: it answered while this loop slept. */
    void pokedByServer() {
      woken.incrementAndGet();
      poll();
    }

    /** The call {@code callId} was answered another way (a frame): the mailbox is free again. */
    void answeredElsewhere(long callId) {
      waiting.compareAndSet(callId, 0);
    }

    @Override
    public boolean poll() {
      long w = waiting.get();
      if (w == 0 || scheduled || segment.callIn(ShmSegment.Region.REPLY, 0) != w) {
        return false;
      }
      scheduled = true;
      context.runOnContext(v -> take(w));
      return true;
    }

    private void take(long callId) {
      scheduled = false;
      if (waiting.get() != callId) {
        return;
      }
      DataHeader h = read(segment, ShmSegment.Region.REPLY, callId);
      if (h != null && waiting.compareAndSet(callId, 0)) {
        answered.accept(h);
      }
    }

    @Override
    public void sleeping(boolean asleep) {
      segment.flag(CLIENT_ASLEEP, asleep);
    }
  }

  /** The server's side: takes requests from the mailbox, writes their answers there. */
  static final class Server implements LoopPollers.Poller {
    private final ShmSegment segment;
    private final Context context;
    private final Consumer<DataHeader> handle;
    private final Runnable poke;
    /** The highest call id taken (loop thread only). */
    private long lastTaken;
    /** Whether a call taken from the mailbox is not answered yet. */
    private volatile boolean busy;
    private boolean scheduled;

    /**
     * @param context the connection's context (on the polling loop)
     * @param handle handles a request, on that context; its answer goes to {@link #answer}
     * @param poke sends a poke frame to the client
     */
    Server(ShmSegment segment, Context context, Consumer<DataHeader> handle, Runnable poke) {
      this.segment = segment;
      this.context = context;
      this.handle = handle;
      this.poke = poke;
    }

    @Override
    public boolean poll() {
      if (busy || scheduled || segment.callIn(ShmSegment.Region.REQUEST, 0) <= lastTaken) {
        return false;
      }
      scheduled = true;
      context.runOnContext(v -> take());
      return true;
    }

    private void take() {
      scheduled = false;
      long id = segment.callIn(ShmSegment.Region.REQUEST, 0);
      if (busy || id <= lastTaken) {
        return;
      }
      DataHeader h = read(segment, ShmSegment.Region.REQUEST, id);
      if (h == null) {
        return; // being rewritten: the next poll looks again
      }
      lastTaken = id;
      busy = true;
      if (h.getFailureCode() != 0) {
        answer(h); // a malformed header: refused to the caller
        return;
      }
      handle.accept(h);
    }

    /** The answer of the call taken went out as a frame (it carries a payload): the mailbox is free. */
    void answeredElsewhere() {
      busy = false;
    }

    /**
     * Writes a call's answer into the mailbox (from any thread) and wakes the client if it sleeps.
     *
     * @return false when it does not fit: send it as a frame (the mailbox is free either way)
     */
    boolean answer(DataHeader reply) {
      byte[] bytes = reply.toByteArray();
      if (bytes.length > SLOT_BYTES) {
        busy = false;
        return false;
      }
      segment.write(ShmSegment.Region.REPLY, 0, reply.getCallId(), ByteBuffer.wrap(bytes));
      busy = false;
      if (segment.takeFlag(CLIENT_ASLEEP)) {
        poke.run();
      }
      return true;
    }

    @Override
    public void sleeping(boolean asleep) {
      segment.flag(SERVER_ASLEEP, asleep);
    }
  }
}
