package dev.batchrpc.runtime.data;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.runtime.Deadlines;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import dev.batchrpc.runtime.net.Tls;
import dev.batchrpc.runtime.node.LoopPollers;
import io.netty.buffer.ByteBuf;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One connection to a {@link DataServer}: calls with a payload out, replies with a payload in,
 * each reply's payload received once into a presized buffer of the client's {@link BufferPool}
 * (the caller gives it back with {@link BufferPool#release} when done with it, so a trainer's
 * model replies reuse one buffer round after round).
 *
 * <p>Failures: a refusal keeps the server's {@link FailureCode}; a closed connection fails every
 * call in flight with {@code UNAVAILABLE} at once; each call has its own timeout
 * ({@code UNAVAILABLE} too). A closed client stays closed: make a new one.
 *
 * <p>Thread-safety: calls may be made from any context; each completes on its caller's context.
 * The connection itself lives on one event loop.
 */
public final class DataClient {

  /** A reply: its protobuf body without tensor data, and the payload (null when none), leased. */
  public record Response(ByteString body, ByteBuffer payload) {
  }

  private static final System.Logger LOG = System.getLogger(DataClient.class.getName());

  private final Vertx vertx;
  private final NetClient netClient;
  private final NetSocket socket;
  private final BufferPool pool;
  private final String endpoint;
  private final Map<Long, Call> calls = new ConcurrentHashMap<>();
  /** The calls' timeouts, by timeout in ms (a client's callers use one or two). */
  private final Map<Long, Deadlines> deadlines = new ConcurrentHashMap<>();
  private final AtomicLong ids = new AtomicLong();
  private final FrameReader reader;
  private volatile RpcException closed;
  /** Shared memory with the server once attached (same host), else null. */
  private volatile ShmSegment shm;
  /** The same-host mailbox for small calls once attached ({@link StepMailbox}), else null. */
  private volatile StepMailbox.Client mailbox;
  /** Which slots of {@link #shm} a call holds; guarded by itself. */
  private boolean[] slotBusy = new boolean[0];

  /** A call in flight; {@code slot} is its shared-memory slot, -1 for none. */
  private record Call(Promise<Response> promise, Deadlines.Deadline deadline, int slot) {
  }

  private DataClient(Vertx vertx, NetClient netClient, NetSocket socket, BufferPool pool,
      long maxPayloadBytes, String endpoint) {
    this.vertx = vertx;
    this.netClient = netClient;
    this.socket = socket;
    this.pool = pool;
    this.endpoint = endpoint;
    this.reader = new FrameReader(pool, maxPayloadBytes, (h, len) -> { }, new FrameReader.Sink() {
      @Override
      public void frame(DataHeader header, ByteBuffer payload) {
        StepMailbox.Client m = mailbox;
        if (m != null) {
          if (StepMailbox.POKE_METHOD.equals(header.getMethod())) {
            m.pokedByServer(); // the server answered into the mailbox while this loop slept
            return;
          }
          m.answeredElsewhere(header.getCallId());
        }
        answered(header, payload);
      }

      @Override
      public void refused(FrameException e) {
        if (!e.fatal() && e.callId() != 0) {
          // A reply whose shared-memory payload was not its own: that call fails, its slot stays
          // taken (the server may still be writing it), the connection goes on.
          Call c = calls.remove(e.callId());
          if (c != null) {
            c.deadline.cancel();
            c.promise.tryFail(new RpcException(e.code(), "data channel to " + endpoint + ": " + e.getMessage()));
          }
          return;
        }
        // The reply stream is broken.
        closeWith(new RpcException(FailureCode.UNAVAILABLE, "data channel to " + endpoint + ": "
            + e.getMessage()));
      }
    });
    VertxInternals.messageHandler(socket, reader.messageHandler());
    // A server that refuses a frame as too large answers why and closes while this side may still
    // be writing that frame's payload: the write then fails first (Netty handles a socket's write
    // readiness before its read readiness), and closing at once would lose the answer in the
    // receive buffer (the call would fail UNAVAILABLE, not TOO_LARGE). Seen on the local socket.
    VertxInternals.readOnAfterWriteFailure(socket);
    socket.closeHandler(v -> {
      StepMailbox.Client m = mailbox;
      if (m != null) {
        LoopPollers.unregister(m);
      }
      reader.close();
      failAll(new RpcException(FailureCode.UNAVAILABLE, "the data channel to " + endpoint
          + " closed; the call will not be answered"));
    });
    socket.exceptionHandler(e -> { });
  }

  /**
   * Connects to a data server.
   *
   * @param maxPayloadBytes the largest reply payload accepted (a larger one breaks the connection)
   * @param pool where reply payloads are received
   */
  public static Future<DataClient> connect(Vertx vertx, String host, int port, long maxPayloadBytes,
      BufferPool pool) {
    return connect(vertx, host, port, maxPayloadBytes, pool, 0);
  }

  /**
   * Connects to a data server and, when {@code shmSlotBytes} &gt; 0, offers it shared memory
   * ({@link ShmSegment}, two slots of that many bytes): a server on the same host takes it, and
   * payloads up to that size then travel through it; otherwise (another host, no
   * {@code /dev/shm}, an older server) the connection keeps payloads in its frames.
   *
   * @param maxPayloadBytes the largest reply payload accepted (a larger one breaks the connection)
   * @param pool where reply payloads are received
   * @param shmSlotBytes the largest payload to send through shared memory, 0 for none
   */
  public static Future<DataClient> connect(Vertx vertx, String host, int port, long maxPayloadBytes,
      BufferPool pool, long shmSlotBytes) {
    return connect(vertx, host, port, maxPayloadBytes, pool, shmSlotBytes, null);
  }

  /**
   * {@link #connect(Vertx, String, int, long, BufferPool, long)}, through the server's
   * Unix-domain socket {@code localPath} (its endpoint's {@code local_path}) when that file is on
   * this host, else (or if that fails) to host:port.
   */
  public static Future<DataClient> connect(Vertx vertx, String host, int port, long maxPayloadBytes,
      BufferPool pool, long shmSlotBytes, String localPath) {
    return connect(vertx, host, port, maxPayloadBytes, pool, shmSlotBytes, localPath, false);
  }

  /**
   * {@link #connect(Vertx, String, int, long, BufferPool, long, String)}, and with
   * {@code mailbox} set, offers the server a same-host mailbox for calls without a payload
   * ({@link StepMailbox}) when the calling loop polls ({@code --spin-us}): a server on this host
   * whose loop polls takes it; otherwise the calls go in frames.
   */
  public static Future<DataClient> connect(Vertx vertx, String host, int port, long maxPayloadBytes,
      BufferPool pool, long shmSlotBytes, String localPath, boolean mailbox) {
    NetClientOptions options = Tls.dataClient(vertx, new NetClientOptions().setTcpNoDelay(true)
        .setConnectTimeout(10_000));
    NetClient client = vertx.createNetClient(options);
    String endpoint = host + ":" + port;
    // On the caller's event loop when it has one (a trainer's own context): its replies then
    // complete its calls without a thread hand-off.
    io.vertx.core.Context current = Vertx.currentContext();
    io.vertx.core.Context ctx = current != null && current.isEventLoopContext() ? current
        : VertxInternals.newEventLoopContext(vertx);
    Promise<DataClient> done = VertxInternals.promise(ctx);
    boolean local = LocalSockets.usable(localPath);
    ctx.runOnContext(v -> (local
            ? client.connect(io.vertx.core.net.SocketAddress.domainSocketAddress(localPath))
                .recover(e -> {
                  LOG.log(System.Logger.Level.DEBUG, "data channel: cannot connect to " + localPath + " (" + e
                      + "); connecting to " + endpoint);
                  return client.connect(port, host);
                })
            : client.connect(port, host))
        .map(so -> new DataClient(vertx, client, so, pool, maxPayloadBytes,
            so.remoteAddress() != null && so.remoteAddress().isDomainSocket() ? "unix:" + localPath : endpoint))
        .onComplete(ar -> {
          if (ar.failed()) {
            client.close();
            done.fail(new RpcException(FailureCode.UNAVAILABLE, "cannot connect to the data channel at "
                + endpoint + ": " + ar.cause().getMessage(), ar.cause()));
          } else {
            DataClient c = ar.result();
            Future<Void> shmDone = shmSlotBytes > 0 ? c.attachShm(shmSlotBytes) : Future.succeededFuture();
            shmDone.compose(x -> mailbox ? c.attachMailbox(ctx) : Future.<Void>succeededFuture())
                .onComplete(x -> done.complete(c));
          }
        }));
    return done.future();
  }

  /** Offers the server a shared-memory segment; completes (never fails) once it is answered. */
  private Future<Void> attachShm(long slotBytes) {
    return offer(ShmSegment.ATTACH_METHOD, () -> ShmSegment.create(2, slotBytes), "payloads go in frames")
        .map(segment -> {
          if (segment != null) {
            synchronized (this) {
              slotBusy = new boolean[segment.slots()];
            }
            reader.shmSource((h, dst) -> readReply(segment, h, dst));
            shm = segment;
            LOG.log(System.Logger.Level.INFO, "data channel to " + endpoint + ": payloads up to " + slotBytes
                + " bytes through shared memory (same host)");
          }
          return null;
        });
  }

  /** Makes a client's segment ({@link ShmSegment#create}, {@link StepMailbox#create}). */
  private interface SegmentMaker {
    ShmSegment make() throws IOException;
  }

  /**
   * Makes a segment and offers it to the server with {@code method}; completes (never fails) with
   * it once the server mapped it, or with null (no segment here, or refused: {@code fallback}
   * says what happens instead). The file is unlinked either way: the mappings stay.
   */
  private Future<ShmSegment> offer(String method, SegmentMaker maker, String fallback) {
    ShmSegment segment;
    try {
      segment = maker.make();
    } catch (IOException | RuntimeException e) {
      LOG.log(System.Logger.Level.DEBUG, "data channel to " + endpoint + ": " + fallback + " (" + e.getMessage()
          + ")");
      return Future.succeededFuture();
    }
    return call(method, segment.attachRequest().toByteString(), null, 10_000)
        .transform(ar -> {
          segment.unlink(); // mapped on both sides now (or refused): the file is not needed any more
          if (ar.failed()) {
            LOG.log(System.Logger.Level.DEBUG, "data channel to " + endpoint + ": " + fallback + " ("
                + ar.cause().getMessage() + ")");
          }
          return Future.succeededFuture(ar.succeeded() ? segment : null);
        });
  }

  /**
   * Offers the server a mailbox ({@link StepMailbox}); completes (never fails) once it is
   * answered. Only from a loop that polls (on {@code ctx}, this connection's).
   */
  private Future<Void> attachMailbox(io.vertx.core.Context ctx) {
    if (!LoopPollers.available() || !StepMailbox.enabled()) {
      return Future.succeededFuture(); // nobody would look at it, or turned off
    }
    return offer(StepMailbox.ATTACH_METHOD, StepMailbox::create, "no mailbox, calls go in frames")
        .map(segment -> {
          if (segment == null || closed != null) {
            return null;
          }
          StepMailbox.Client m = new StepMailbox.Client(segment, ctx, h -> answered(h, null), () -> {
            for (ByteBuf b : Frames.encode(StepMailbox.poke(), null)) {
              VertxInternals.writeMessage(socket, b);
            }
          });
          if (LoopPollers.register(m)) {
            mailbox = m;
            LOG.log(System.Logger.Level.INFO, "data channel to " + endpoint + ": calls without a payload through a"
                + " mailbox in shared memory (same host, both loops poll)");
          }
          return null;
        });
  }

  /** Whether small calls go through a same-host mailbox ({@link StepMailbox}). */
  public boolean mailbox() {
    return mailbox != null;
  }

  /** The mailbox's client side, or null (tests). */
  StepMailbox.Client mailboxClient() {
    return mailbox;
  }

  /** Whether payloads to and from the server go through shared memory. */
  public boolean sharedMemory() {
    return shm != null;
  }

  private void readReply(ShmSegment segment, DataHeader h, ByteBuffer dst) {
    Call c = calls.get(h.getCallId());
    if (c == null || c.slot + 1 != h.getShmSlot()) {
      throw new FrameException(FailureCode.BAD_REQUEST, "a reply names shared-memory slot " + h.getShmSlot()
          + ", not its call's", h.getCallId(), false);
    }
    segment.read(ShmSegment.Region.REPLY, c.slot, h.getCallId(), h.getShmLength(), dst);
  }

  private synchronized int takeSlot() {
    for (int i = 0; i < slotBusy.length; i++) {
      if (!slotBusy[i]) {
        slotBusy[i] = true;
        return i;
      }
    }
    return -1;
  }

  private synchronized void freeSlot(int slot) {
    if (slot >= 0 && slot < slotBusy.length) {
      slotBusy[slot] = false;
    }
  }

  /** Where this client is connected ("host:port"). */
  public String endpoint() {
    return endpoint;
  }

  /** Whether the connection is still open. */
  public boolean isOpen() {
    return closed == null;
  }

  /**
   * Calls {@code method} with {@code body} and {@code payload} (null for none; only read, until
   * the call completes).
   *
   * @return the reply; its payload is leased from the pool: release it when done
   */
  public Future<Response> call(String method, ByteString body, ByteBuffer payload, long timeoutMs) {
    Promise<Response> promise = VertxInternals.promise(vertx.getOrCreateContext());
    RpcException gone = closed;
    if (gone != null) {
      promise.fail(gone);
      return promise.future();
    }
    long id = ids.incrementAndGet();
    // One timer per timeout for all of this client's calls (Deadlines), not one per call.
    Deadlines.Deadline deadline = deadlines.computeIfAbsent(timeoutMs, t -> new Deadlines(vertx, t)).add(() -> {
      Call c = calls.remove(id);
      if (c != null) {
        c.promise.tryFail(new RpcException(FailureCode.UNAVAILABLE, method + " on the data channel to "
            + endpoint + " got no reply within " + timeoutMs + " ms"));
      }
    });
    DataHeader.Builder header = DataHeader.newBuilder().setCallId(id).setMethod(method).setBody(body);
    ShmSegment segment = shm;
    int slot = -1;
    if (segment != null && (payload == null || payload.remaining() <= segment.slotBytes())) {
      slot = takeSlot();
    }
    if (slot >= 0) {
      // The request's payload in its slot, the reply's to come in the same slot's reply half.
      if (payload != null && payload.hasRemaining()) {
        segment.write(ShmSegment.Region.REQUEST, slot, id, payload);
        header.setShmLength(payload.remaining());
      }
      header.setShmSlot(slot + 1);
      payload = null;
    }
    // A call that times out keeps its slot: the server may still write its reply there.
    calls.put(id, new Call(promise, deadline, slot));
    StepMailbox.Client m = mailbox;
    DataHeader built = header.build();
    if (m != null && payload == null && slot < 0 && m.trySend(built)) {
      if (closed != null) {
        failAll(closed);
      }
      return promise.future();
    }
    for (ByteBuf b : Frames.encode(built, payload)) {
      VertxInternals.writeMessage(socket, b);
    }
    if (closed != null) {
      failAll(closed); // closed while we registered: nobody else will fail it
    }
    return promise.future();
  }

  /** Closes the connection; calls in flight fail with {@code UNAVAILABLE}. */
  public Future<Void> close() {
    closeWith(new RpcException(FailureCode.UNAVAILABLE, "the data channel to " + endpoint + " was closed"));
    return netClient.close();
  }

  private void closeWith(RpcException e) {
    if (closed == null) {
      closed = e;
    }
    failAll(e);
    socket.close();
  }

  private void answered(DataHeader header, ByteBuffer payload) {
    if (header.getCallId() == 0 && header.getFailureCode() != 0) {
      // A refusal of the connection as a whole (e.g. a frame over the server's limit).
      pool.release(payload);
      closeWith(refusal(header));
      return;
    }
    Call c = calls.remove(header.getCallId());
    if (c == null) {
      pool.release(payload); // timed out meanwhile
      return;
    }
    freeSlot(c.slot);
    c.deadline.cancel();
    if (header.getFailureCode() != 0) {
      pool.release(payload);
      c.promise.tryFail(refusal(header));
    } else if (!c.promise.tryComplete(new Response(header.getBody(), payload))) {
      pool.release(payload);
    }
  }

  private RpcException refusal(DataHeader header) {
    FailureCode code = FailureCode.of(header.getFailureCode());
    return new RpcException(code == null ? FailureCode.UNAVAILABLE : code, header.getFailureMessage());
  }

  private void failAll(RpcException e) {
    if (closed == null) {
      closed = e;
    }
    for (Long id : calls.keySet()) {
      Call c = calls.remove(id);
      if (c != null) {
        c.deadline.cancel();
        c.promise.tryFail(e);
      }
    }
    deadlines.values().forEach(Deadlines::close);
  }
}
