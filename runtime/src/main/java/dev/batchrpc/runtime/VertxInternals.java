package dev.batchrpc.runtime;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.internal.net.NetSocketInternal;
import io.vertx.core.net.NetSocket;
import io.vertx.core.spi.cluster.ClusterManager;

/**
 * The one place this project reaches into Vert.x's internal API ({@code io.vertx.core.internal}),
 * which a Vert.x release may change: a new event-loop or worker context, a promise that completes
 * on a given context, a node's cluster manager, a hook run when a Vert.x closes, and a TCP
 * socket's transport messages (Netty buffers, which the data channel reads and writes without
 * Vert.x's copy into a {@code Buffer}) and its reading on after a failed write.
 * Everything else uses Vert.x's public API.
 */
public final class VertxInternals {

  private VertxInternals() {
  }

  /** A new event-loop context of {@code vertx}: the next of its event loops, round-robin. */
  public static Context newEventLoopContext(Vertx vertx) {
    return ((VertxInternal) vertx).createEventLoopContext();
  }

  /** A new worker context of {@code vertx} (its tasks run in order on the worker pool). */
  public static Context newWorkerContext(Vertx vertx) {
    return ((VertxInternal) vertx).createWorkerContext();
  }

  /**
   * A promise whose future runs its callbacks on {@code context}, whichever thread completes it:
   * a reply computed on a worker reaches its caller on the caller's event loop.
   */
  public static <T> Promise<T> promise(Context context) {
    return ((ContextInternal) context).promise();
  }

  /** The cluster manager of a clustered {@code vertx}; null for a plain one. */
  public static ClusterManager clusterManager(Vertx vertx) {
    return ((VertxInternal) vertx).clusterManager();
  }

  /** Runs {@code action} when {@code vertx} closes. */
  public static void onClose(Vertx vertx, Runnable action) {
    ((VertxInternal) vertx).addCloseHook(completion -> {
      action.run();
      completion.succeed();
    });
  }

  /** Hands each transport message the socket receives (a Netty {@code ByteBuf}) to {@code handler}. */
  public static void messageHandler(NetSocket socket, Handler<Object> handler) {
    ((NetSocketInternal) socket).messageHandler(handler);
  }

  /**
   * Keeps reading a socket whose write failed (its peer closed): Netty then shuts only its output
   * down, instead of closing it at once (its default, {@code AUTO_CLOSE}), so what the peer sent
   * before it closed (a refusal that says why) is still read, and the socket closes at the end of
   * that input as usual.
   */
  public static void readOnAfterWriteFailure(NetSocket socket) {
    ((NetSocketInternal) socket).channelHandlerContext().channel().config().setAutoClose(false);
  }

  /** Writes a transport message (a Netty {@code ByteBuf}; Netty releases it once written) to the socket. */
  public static Future<Void> writeMessage(NetSocket socket, Object message) {
    return ((NetSocketInternal) socket).writeMessage(message);
  }
}
