package dev.batchrpc.runtime.data;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import dev.batchrpc.runtime.net.ConnectionLimits;
import dev.batchrpc.runtime.net.Tls;
import dev.batchrpc.runtime.node.LoopPollers;
import io.netty.buffer.ByteBuf;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A service's data channel: a TCP server (TLS when the node has it) that takes frames
 * ({@link Frames}) and answers each call with one frame. Tensor bytes travel here instead of on
 * the clustered event bus, which stays the control plane.
 *
 * <p>Costs what the bytes cost: each payload is received once into a presized pooled buffer
 * ({@link FrameReader}, {@link BufferPool}), straight from the transport's read buffers; a reply's
 * payload is written from the one encoded copy the method returns, shared by every call it answers
 * (each write takes a view). Connections are spread over several event loops (one server per
 * loop, sharing the port), so the N gradients of a round are received in parallel.
 *
 * <p>Bounded memory, refusals before buffering: a payload over {@code maxPayloadBytes} closes the
 * connection after a {@code TOO_LARGE} refusal; a frame the method does not admit (wrong size,
 * unknown method) is refused and its payload skipped unread; payloads in flight (received, not yet
 * answered) stay under {@code inFlightBudgetBytes} ({@code UNAVAILABLE} beyond it: retry later).
 * A payload is released when its call's future completes (success or failure), and a stream cut
 * in the middle of a frame releases the partial payload.
 *
 * <p>Bounded connections ({@link ConnectionLimits}): at most {@code --max-connections} at once
 * (one more is closed when accepted), and a connection idle for {@code --idle-timeout-s} with no
 * call waiting for its answer is closed (its client reconnects on its next call).
 *
 * <p>Same host: a client may offer shared memory for its payloads ({@link ShmSegment}) and, where
 * this connection's loop polls, a mailbox for its calls without a payload ({@link StepMailbox}),
 * served exactly as frames.
 *
 * <p>Length: about 600 lines on purpose: a connection's frames, mailbox, refusals, budget and
 * idleness share its state and are checked together here.
 *
 * <p>Threads: each connection lives on one event loop; methods are called there and their futures
 * may complete anywhere (the reply is written from where they complete).
 */
public final class DataServer {

  private static final System.Logger LOG = System.getLogger(DataServer.class.getName());

  /** One call a data server serves. */
  public interface Method {
    /**
     * Decides whether a frame for this method may be received, before any payload byte is read
     * (e.g. its payload length must be the model's size).
     *
     * @throws RpcException to refuse it; the payload is skipped
     */
    void admit(DataHeader header, long payloadLength);

    /**
     * Handles a call. {@code payload} (null when empty) is valid until the returned future
     * completes, then returned to the pool: nothing may keep reading it after that.
     */
    Future<Reply> call(DataHeader header, ByteBuffer payload);

    /**
     * {@link #call(DataHeader, ByteBuffer)} for a method that parks the call (in an open round):
     * {@code callerGone} completes if the connection closes before the call is answered, so the
     * method can take the request back. By default the same as the two-argument call.
     */
    default Future<Reply> call(DataHeader header, ByteBuffer payload, Future<Void> callerGone) {
      return call(header, payload);
    }

    /**
     * A method whose request is all in the frame's header: a payload is refused
     * ({@code BAD_REQUEST}, "{@code method} takes no payload ({@code carries}), got N bytes"), the
     * body is parsed as {@code prototype}'s type ({@code BAD_REQUEST} "malformed Type on the data
     * channel" if it is not one), and {@code handler} answers it, told through its second argument
     * if the caller's connection closes first.
     *
     * @param carries what the request carries instead, for the refusal's text; null for nothing
     */
    static <T extends com.google.protobuf.Message> Method headerOnly(String method, String carries, T prototype,
        java.util.function.BiFunction<T, Future<Void>, Future<Reply>> handler) {
      String type = prototype.getDescriptorForType().getName();
      @SuppressWarnings("unchecked")
      com.google.protobuf.Parser<T> parser = (com.google.protobuf.Parser<T>) prototype.getParserForType();
      return new Method() {
        @Override
        public void admit(DataHeader header, long payloadLength) {
          if (payloadLength != 0) {
            throw new RpcException(FailureCode.BAD_REQUEST, method + " takes no payload"
                + (carries == null ? "" : " (" + carries + ")") + ", got " + payloadLength + " bytes");
          }
        }

        @Override
        public Future<Reply> call(DataHeader header, ByteBuffer payload) {
          return call(header, payload, null);
        }

        @Override
        public Future<Reply> call(DataHeader header, ByteBuffer payload, Future<Void> callerGone) {
          T request;
          try {
            request = parser.parseFrom(header.getBody());
          } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST, "malformed " + type
                + " on the data channel: " + e.getMessage()));
          }
          return handler.apply(request, callerGone);
        }
      };
    }
  }

  /**
   * A method's answer: the protobuf body without tensor data, and the tensor's bytes (null when
   * none), which the server only reads (a view per write), so one buffer can answer many calls;
   * {@code written} runs once the frame is written to the socket or failed to (the payload is not
   * read after that), e.g. to give a pooled buffer back.
   */
  public record Reply(ByteString body, ByteBuffer payload, Runnable written) {

    /** A reply whose payload needs nothing after it is written. */
    public Reply(ByteString body, ByteBuffer payload) {
      this(body, payload, null);
    }
  }

  /** Distinct negative port numbers, one per data server of this JVM (see {@link #listen}). */
  private static final java.util.concurrent.atomic.AtomicInteger SHARED_RANDOM_PORTS =
      new java.util.concurrent.atomic.AtomicInteger();

  private final List<NetServer> servers;
  private final int port;
  private final BufferPool pool;
  private final AtomicLong inFlightBytes;
  /** Calls taken from same-host mailboxes ({@link StepMailbox}), all connections together. */
  private final AtomicLong mailboxCalls;
  /** Counts the open connections of every loop's server against --max-connections. */
  private final ConnectionLimits.Gate gate;
  /** The Unix-domain socket the same channel listens on, or null (see {@link #localPath()}). */
  private final java.nio.file.Path localPath;

  private DataServer(List<NetServer> servers, int port, BufferPool pool, AtomicLong inFlightBytes,
      AtomicLong mailboxCalls, ConnectionLimits.Gate gate, java.nio.file.Path localPath) {
    this.mailboxCalls = mailboxCalls;
    this.servers = servers;
    this.gate = gate;
    this.port = port;
    this.pool = pool;
    this.inFlightBytes = inFlightBytes;
    this.localPath = localPath;
  }

  /**
   * Starts a data server.
   *
   * @param host the address to bind
   * @param port the port, 0 for any free one
   * @param methods what it serves, by method name (e.g. {@code ps.update-and-fetch})
   * @param maxPayloadBytes the largest payload of one frame
   * @param inFlightBudgetBytes the most payload bytes received and not yet answered, all
   *     connections together
   * @param retainedBytes how many bytes of free buffers the pool keeps for reuse
   * @param eventLoops over how many event loops the connections are spread, &gt;= 1
   * @param home with one event loop, the context to serve on (e.g. the service's own, so that a
   *     request reaches the service's round and its reply the socket without a thread hand-off);
   *     null for a fresh one
   */
  public static Future<DataServer> listen(Vertx vertx, String host, int port, Map<String, Method> methods,
      long maxPayloadBytes, long inFlightBudgetBytes, long retainedBytes, int eventLoops,
      Context home) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("data port must be 0-65535, got " + port);
    }
    if (eventLoops < 1) {
      throw new IllegalArgumentException("eventLoops must be >= 1, got " + eventLoops);
    }
    BufferPool pool = new BufferPool(retainedBytes);
    AtomicLong inFlight = new AtomicLong();
    AtomicLong mailboxCalls = new AtomicLong();
    ConnectionLimits limits = ConnectionLimits.of(vertx);
    // One cap for the listener, over all its event loops' servers.
    ConnectionLimits.Gate gate = limits.gate();
    Map<String, Method> table = Map.copyOf(methods);
    List<NetServer> servers = new ArrayList<>();
    // Vert.x shares one bound port between servers of an instance that listen on the same port;
    // "any free port" is shared that way only when asked for as a negative number (port 0 would
    // bind a new random port per server).
    int shared = port == 0 ? -1 - SHARED_RANDOM_PORTS.getAndIncrement() % 1_000_000 : port;
    Context firstContext = eventLoops == 1 && home != null && home.isEventLoopContext()
        ? home : VertxInternals.newEventLoopContext(vertx);
    List<Context> contexts = new ArrayList<>(List.of(firstContext));
    for (int i = 1; i < eventLoops; i++) {
      contexts.add(VertxInternals.newEventLoopContext(vertx));
    }
    Future<Integer> first = listenOn(vertx, firstContext, null, host, shared, table, maxPayloadBytes,
        inFlightBudgetBytes, pool, inFlight, mailboxCalls, servers, limits, gate);
    java.nio.file.Path local = LocalSockets.newPath(vertx);
    return first.compose(actual -> {
      List<Future<Integer>> more = new ArrayList<>();
      for (int i = 1; i < eventLoops; i++) {
        more.add(listenOn(vertx, contexts.get(i), null, host, shared, table,
            maxPayloadBytes, inFlightBudgetBytes, pool, inFlight, mailboxCalls, servers, limits, gate));
      }
      return Future.all(more).map(actual);
    }).compose(actual -> {
      if (local == null) {
        return Future.succeededFuture(new DataServer(List.copyOf(servers), actual, pool, inFlight, mailboxCalls, gate,
            null));
      }
      // The same channel on a Unix-domain socket, on the same event loops: a peer on this host
      // skips the TCP stack. If it cannot listen, TCP alone serves.
      List<Future<Integer>> uds = new ArrayList<>();
      for (Context c : contexts) {
        uds.add(listenOn(vertx, c, io.vertx.core.net.SocketAddress.domainSocketAddress(local.toString()), null, 0,
            table, maxPayloadBytes, inFlightBudgetBytes, pool, inFlight, mailboxCalls, servers, limits, gate));
      }
      return Future.all(uds).transform(ar -> {
        if (ar.failed()) {
          LOG.log(System.Logger.Level.DEBUG, "data channel: no Unix-domain socket at " + local + ": "
              + ar.cause());
          LocalSockets.delete(local);
        }
        return Future.succeededFuture(new DataServer(List.copyOf(servers), actual, pool, inFlight, mailboxCalls, gate,
            ar.succeeded() ? local : null));
      });
    }).recover(e -> {
      List<Future<Void>> closing = new ArrayList<>();
      synchronized (servers) {
        servers.forEach(s -> closing.add(s.close()));
      }
      return Future.join(closing).transform(x -> Future.failedFuture(
          dev.batchrpc.runtime.net.Ports.bindFailure(e, "data port", "--data-port", host, port)));
    });
  }

  /**
   * Binds one server on an event-loop context, so its connections live on that loop: on a
   * Unix-domain socket {@code address}, or (address null) on TCP {@code host}:{@code port}.
   */
  private static Future<Integer> listenOn(Vertx vertx, Context ctx, io.vertx.core.net.SocketAddress address,
      String host, int port, Map<String, Method> methods, long maxPayloadBytes, long budget, BufferPool pool,
      AtomicLong inFlight, AtomicLong mailboxCalls, List<NetServer> servers, ConnectionLimits limits,
      ConnectionLimits.Gate gate) {
    Promise<Integer> bound = VertxInternals.promise(ctx);
    ctx.runOnContext(v -> {
      NetServerOptions options = Tls.dataServer(vertx, new NetServerOptions().setTcpNoDelay(true));
      NetServer server = vertx.createNetServer(options);
      synchronized (servers) {
        servers.add(server);
      }
      server.connectHandler(so -> {
        if (!gate.admit()) {
          LOG.log(System.Logger.Level.WARNING, "data channel: refused a connection from " + so.remoteAddress()
              + ": " + limits.maxConnections() + " are open (--max-connections)");
          so.close();
          return;
        }
        new Connection(vertx, so, methods, maxPayloadBytes, budget, pool, inFlight, mailboxCalls, limits.idleTimeoutS(),
            gate);
      });
      // (a negative port asks Vert.x for a shared random one: listen(port, host) takes it,
      // SocketAddress.inetSocketAddress does not)
      Future<NetServer> listening;
      try {
        listening = address != null ? server.listen(address) : server.listen(port, host);
      } catch (RuntimeException e) {
        listening = Future.failedFuture(e);
      }
      listening.map(NetServer::actualPort).onComplete(bound);
    });
    return bound.future();
  }

  /** The bound port. */
  public int port() {
    return port;
  }

  /** The buffer pool (for tests and metrics). */
  public BufferPool pool() {
    return pool;
  }

  /**
   * Connections open now, counted against {@code --max-connections}. A connection the server
   * closed leaves the count once its close is handled on its loop, a moment after the peer sees
   * it closed.
   */
  public int openConnections() {
    return gate.open();
  }

  /** Calls taken from same-host mailboxes ({@link StepMailbox}) so far, all connections together. */
  public long mailboxCalls() {
    return mailboxCalls.get();
  }

  /** Payload bytes received and not yet answered, all connections together. */
  public long inFlightBytes() {
    return inFlightBytes.get();
  }

  /**
   * The Unix-domain socket this channel also listens on (peers on this host connect there), or
   * null: no native transport, TLS on (peers verify the server's host name), or no directory.
   */
  public java.nio.file.Path localPath() {
    return localPath;
  }

  /** Stops listening and closes the connections. */
  public Future<Void> close() {
    List<Future<Void>> closing = new ArrayList<>();
    for (NetServer s : servers) {
      closing.add(s.close());
    }
    return Future.join(closing).<Void>mapEmpty().andThen(x -> {
      if (localPath != null) {
        LocalSockets.delete(localPath);
      }
    });
  }

  /** One connection; confined to its event loop except for writes from completing futures. */
  private static final class Connection implements FrameReader.Admission {
    private final NetSocket socket;
    private final Map<String, Method> methods;
    private final long budget;
    private final long maxPayloadBytes;
    private final AtomicLong inFlight;
    private final AtomicLong mailboxCalls;
    private final FrameReader reader;
    /** The client's shared memory once attached ({@link ShmSegment}); replies are written from any thread. */
    private volatile ShmSegment shm;
    /** The client's mailbox once attached ({@link StepMailbox}), else null. */
    private volatile StepMailbox.Server mailbox;
    private final Sink sink;
    /** The payload bytes admitted for the frame being received (0 between frames); event loop only. */
    private long receiving;
    /** Calls of this connection waiting for their answer (answers may complete on another thread). */
    private final AtomicInteger pending = new AtomicInteger();
    /** When this connection last read or answered ({@link System#nanoTime()}). */
    private volatile long lastActive = System.nanoTime();
    private final Vertx vertx;
    private long idleTimer = -1;
    private boolean closed;
    /** The calls not answered yet, each told if the connection closes first (per call: no handler piles up). */
    private final java.util.Set<io.vertx.core.Promise<Void>> unanswered = java.util.concurrent.ConcurrentHashMap.newKeySet();

    Connection(Vertx vertx, NetSocket so, Map<String, Method> methods, long maxPayloadBytes, long budget,
        BufferPool pool, AtomicLong inFlight, AtomicLong mailboxCalls, int idleTimeoutS, ConnectionLimits.Gate gate) {
      this.mailboxCalls = mailboxCalls;
      this.vertx = vertx;
      this.socket = so;
      this.methods = methods;
      this.budget = budget;
      this.maxPayloadBytes = maxPayloadBytes;
      this.inFlight = inFlight;
      this.sink = new Sink(pool);
      this.reader = new FrameReader(pool, maxPayloadBytes, this, sink);
      io.vertx.core.Handler<Object> frames = reader.messageHandler();
      VertxInternals.messageHandler(socket, msg -> {
        lastActive = System.nanoTime();
        frames.handle(msg);
      });
      if (idleTimeoutS > 0) {
        checkIdle(TimeUnit.SECONDS.toNanos(idleTimeoutS));
      }
      socket.closeHandler(v -> {
        closed = true;
        gate.closed();
        StepMailbox.Server m = mailbox;
        if (m != null) {
          LoopPollers.unregister(m);
        }
        if (idleTimer >= 0) {
          vertx.cancelTimer(idleTimer);
        }
        if (reader.midFrame()) {
          LOG.log(System.Logger.Level.DEBUG, "data channel from " + so.remoteAddress()
              + " closed in the middle of a frame; its partial payload is dropped");
        }
        reader.close();
        // The callers of the calls still waiting are gone: the methods may take them back.
        for (io.vertx.core.Promise<Void> gone : unanswered) {
          gone.tryComplete();
        }
        unanswered.clear();
        // The admitted frame that was being received will never be handled.
        inFlight.addAndGet(-receiving);
        receiving = 0;
      });
      socket.exceptionHandler(e -> LOG.log(System.Logger.Level.DEBUG, "data channel from "
          + so.remoteAddress() + ": " + e));
    }

    /**
     * Closes the connection once it has been idle for {@code idleNanos}: nothing read or answered,
     * and no call waiting for its answer (a trainer's update may wait in a long round). A trainer's
     * client reconnects on its next call.
     */
    private void checkIdle(long idleNanos) {
      long idle = System.nanoTime() - lastActive;
      boolean waiting = pending.get() > 0;
      if (!closed && !waiting && idle >= idleNanos) {
        LOG.log(System.Logger.Level.DEBUG, "data channel from " + socket.remoteAddress() + " idle for "
            + TimeUnit.NANOSECONDS.toSeconds(idle) + " s (--idle-timeout-s); closed");
        socket.close();
        return;
      }
      if (closed) {
        return;
      }
      long wait = waiting ? idleNanos : idleNanos - idle;
      idleTimer = vertx.setTimer(Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait)), t -> checkIdle(idleNanos));
    }

    @Override
    public void admit(DataHeader header, long payloadLength) {
      String name = header.getMethod();
      if (ShmSegment.ATTACH_METHOD.equals(name) || StepMailbox.ATTACH_METHOD.equals(name)
          || StepMailbox.POKE_METHOD.equals(name)) {
        if (payloadLength != 0) {
          throw new FrameException(FailureCode.BAD_REQUEST, name + " takes no payload", header.getCallId(), false);
        }
        return;
      }
      Method m = methods.get(header.getMethod());
      if (m == null) {
        throw new FrameException(FailureCode.BAD_REQUEST, "unknown data-channel method '" + header.getMethod()
            + "' (this service serves " + new java.util.TreeSet<>(methods.keySet()) + ")", header.getCallId(), false);
      }
      try {
        m.admit(header, payloadLength);
      } catch (RpcException e) {
        throw new FrameException(e.code(), e.getMessage(), header.getCallId(), false);
      }
      if (inFlight.addAndGet(payloadLength) > budget) {
        inFlight.addAndGet(-payloadLength);
        throw new FrameException(FailureCode.UNAVAILABLE, "the data channel has " + budget
            + " bytes of payloads in flight already; retry", header.getCallId(), false);
      }
      receiving = payloadLength;
    }

    /** Frames and refusals of this connection. */
    private final class Sink implements FrameReader.Sink {
      private final BufferPool pool;

      Sink(BufferPool pool) {
        this.pool = pool;
      }

      @Override
      public void frame(DataHeader header, ByteBuffer payload) {
        if (ShmSegment.ATTACH_METHOD.equals(header.getMethod())) {
          attach(header);
          return;
        }
        if (StepMailbox.POKE_METHOD.equals(header.getMethod())) {
          StepMailbox.Server m = mailbox;
          if (m != null) {
            m.poll(); // the client wrote into the mailbox while this loop slept
          }
          return;
        }
        if (StepMailbox.ATTACH_METHOD.equals(header.getMethod())) {
          attachMailbox(header);
          return;
        }
        long bytes = receiving;
        receiving = 0;
        serve(header, payload, bytes, false);
      }

      /** Serves a call from a frame or ({@code viaMailbox}) from the mailbox. */
      void serve(DataHeader header, ByteBuffer payload, long bytes, boolean viaMailbox) {
        pending.incrementAndGet();
        Future<Reply> answer;
        io.vertx.core.Promise<Void> callerGone = io.vertx.core.Promise.promise();
        unanswered.add(callerGone);
        try {
          answer = methods.get(header.getMethod()).call(header, payload, callerGone.future());
        } catch (RuntimeException e) {
          answer = Future.failedFuture(e);
        }
        answer.onComplete(ar -> {
          unanswered.remove(callerGone);
          pool.release(payload);
          inFlight.addAndGet(-bytes);
          pending.decrementAndGet();
          lastActive = System.nanoTime();
          if (ar.succeeded()) {
            Reply r = ar.result();
            if (viaMailbox && (r.payload() == null || !r.payload().hasRemaining())
                && mailbox.answer(Frames.reply(header.getCallId(), r.body()))) {
              if (r.written() != null) {
                r.written().run();
              }
              return;
            }
            Future<Void> sent = reply(header, r);
            if (viaMailbox) {
              mailbox.answeredElsewhere();
            }
            if (r.written() != null) {
              sent.onComplete(x -> r.written().run());
            }
          } else {
            RpcException e = RpcException.of(ar.cause());
            DataHeader refusal = Frames.failure(header.getCallId(), e.code(), e.getMessage());
            if (!viaMailbox || !mailbox.answer(refusal)) {
              write(refusal, null);
            }
          }
        });
      }

      @Override
      public void refused(FrameException e) {
        // A frame refused after its admission (its shared-memory payload was not that call's):
        // its admitted bytes are not in flight after all.
        inFlight.addAndGet(-receiving);
        receiving = 0;
        write(Frames.failure(e.callId(), e.code(), e.getMessage()), null);
        if (e.fatal()) {
          LOG.log(System.Logger.Level.WARNING, "data channel from " + socket.remoteAddress() + ": "
              + e.getMessage() + "; connection closed");
          socket.close();
        }
      }
    }

    /**
     * Maps the client's shared memory ({@code data.attach-shm}); from then on its frames may name
     * slots. A refusal leaves the connection on in-frame payloads.
     */
    private void attach(DataHeader header) {
      ShmSegment segment = attachedSegment(header, maxPayloadBytes);
      if (segment == null) {
        return;
      }
      shm = segment;
      reader.shmSource((h, dst) -> segment.read(ShmSegment.Region.REQUEST, h.getShmSlot() - 1, h.getCallId(),
          h.getShmLength(), dst));
      write(Frames.reply(header.getCallId(), com.google.protobuf.ByteString.EMPTY), null);
    }

    /**
     * Maps the segment an offer ({@code data.attach-shm}, {@code data.attach-mailbox}) names
     * ({@link ShmSegment#attach}), or refuses the offer and returns null.
     */
    private ShmSegment attachedSegment(DataHeader header, long maxSlotBytes) {
      try {
        return ShmSegment.attach(dev.batchrpc.proto.v1.ShmAttach.parseFrom(header.getBody()), maxSlotBytes);
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        write(Frames.failure(header.getCallId(), FailureCode.BAD_REQUEST, "malformed ShmAttach: " + e.getMessage()),
            null);
      } catch (RpcException e) {
        LOG.log(System.Logger.Level.DEBUG, "data channel from " + socket.remoteAddress() + ": " + e.getMessage());
        write(Frames.failure(header.getCallId(), e.code(), e.getMessage()), null);
      }
      return null;
    }

    /**
     * Takes the client's mailbox ({@link StepMailbox}) when this connection's loop polls for it;
     * otherwise refuses, and the client's calls stay in frames.
     */
    private void attachMailbox(DataHeader header) {
      ShmSegment segment = attachedSegment(header, StepMailbox.SLOT_BYTES);
      if (segment == null) {
        return;
      }
      if (mailbox != null || closed) {
        write(Frames.failure(header.getCallId(), FailureCode.BAD_REQUEST, "this connection has a mailbox already"),
            null);
        return;
      }
      Context ctx = vertx.getOrCreateContext();
      StepMailbox.Server m = new StepMailbox.Server(segment, ctx, h -> {
        try {
          admit(h, 0);
        } catch (FrameException e) {
          mailbox.answer(Frames.failure(h.getCallId(), e.code(), e.getMessage()));
          return;
        }
        mailboxCalls.incrementAndGet();
        sink.serve(h, null, 0, true);
      }, () -> write(StepMailbox.poke(), null));
      if (!LoopPollers.register(m)) {
        write(Frames.failure(header.getCallId(), FailureCode.UNAVAILABLE, "this server's event loops do not poll "
            + "(--spin-us 0): no mailbox"), null);
        return;
      }
      mailbox = m;
      write(Frames.reply(header.getCallId(), com.google.protobuf.ByteString.EMPTY), null);
    }

    /**
     * Writes a call's answer: its payload into the reply slot the request named when there is one
     * and it fits (the frame then carries only the header), else in the frame.
     */
    private Future<Void> reply(DataHeader request, Reply r) {
      ShmSegment segment = shm;
      ByteBuffer payload = r.payload();
      int slot = request.getShmSlot();
      if (segment != null && slot > 0 && slot <= segment.slots() && payload != null && payload.hasRemaining()
          && payload.remaining() <= segment.slotBytes()) {
        int length = payload.remaining();
        segment.write(ShmSegment.Region.REPLY, slot - 1, request.getCallId(), payload);
        return write(Frames.reply(request.getCallId(), r.body(), slot, length), null);
      }
      return write(Frames.reply(request.getCallId(), r.body()), payload);
    }

    /** Writes one frame; completes when its last buffer is written (or failed to be). */
    private Future<Void> write(DataHeader header, ByteBuffer payload) {
      Future<Void> last = Future.succeededFuture();
      for (ByteBuf b : Frames.encode(header, payload)) {
        last = VertxInternals.writeMessage(socket, b);
      }
      return last;
    }
  }
}
