package dev.batchrpc.trainer;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.DataEndpoint;
import dev.batchrpc.proto.v1.DataEndpointRequest;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.VertxInternals;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.data.ShmSegment;
import dev.batchrpc.runtime.data.TensorPayload;
import dev.batchrpc.runtime.node.Nodes;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.spi.cluster.NodeListener;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link PsClient#eventBus}: requests with a timeout, and calls in flight failed at once when the
 * server's node leaves the cluster.
 *
 * <p>On a clustered node, tensor bytes take the server's data channel, not the event bus: the
 * client asks {@link Addresses#PS_DATA_ENDPOINT} where it is (which also tells the server this
 * trainer's node), connects once and sends {@code get-model} and {@code update-and-fetch} there,
 * each gradient as a frame payload and each model received once into a reused off-heap buffer
 * ({@link #release} gives it back). A server without one (port 0 in the answer) and a local node
 * use the event bus. When the channel fails (server gone or restarted on another port), the
 * calls fail with {@code UNAVAILABLE} and the next call asks for the endpoint again.
 *
 * <p>Thread-safety: used by any number of trainers on any contexts. The server's node id (from the
 * {@code batchrpc-node} header every clustered node stamps on its replies) is volatile; the calls
 * in flight are a concurrent set; node events arrive on one context.
 */
final class EventBusPsClient implements PsClient {

  private final Vertx vertx;
  private final long timeoutMs;
  private final Set<Promise<?>> inFlight = ConcurrentHashMap.newKeySet();
  /** Model replies whose parameters are in a pooled buffer, until {@link #release}d. */
  private final Map<ModelReply, ByteBuffer> leased = Collections.synchronizedMap(new IdentityHashMap<>());
  private volatile String serverNode;
  /** The data channel in use or being set up; null when none is (ask again on the next call). */
  private volatile Future<Channel> channel;

  /** A connected data channel and where its replies' payloads go (null client: use the event bus). */
  private record Channel(DataClient client, BufferPool pool) {
  }

  EventBusPsClient(Vertx vertx, long timeoutMs) {
    ProtobufCodec.register(vertx);
    this.vertx = vertx;
    this.timeoutMs = timeoutMs;
    Nodes.watchMembers(vertx, new NodeListener() {
      @Override
      public void nodeAdded(String nodeId) {
        // A restarted server is found by the next request.
      }

      @Override
      public void nodeLeft(String nodeId) {
        if (nodeId.equals(serverNode)) {
          serverLost("the parameter server's node " + nodeId + " left the cluster");
        }
      }
    });
    // Cut off from the cluster (paused, partitioned) and merged back: the server dropped this
    // trainer meanwhile and will not answer what was in flight; the retry registers it again.
    Nodes.watchRejoins(vertx, () -> {
      String server = serverNode;
      if (server != null) {
        serverLost("this node rejoined the cluster after a split (the parameter server dropped this trainer)");
      }
    });
  }

  @Override
  public Future<ModelReply> getModel(String participantId) {
    GetModelRequest q = GetModelRequest.newBuilder().setParticipantId(participantId).build();
    return channel(participantId).compose(ch -> ch.client == null
        // The node header every clustered node stamps on what it sends lets the server drop this
        // trainer when its node leaves.
        ? call(Addresses.PS_GET_MODEL, q, ProtobufCodec.options(timeoutMs))
        : dataCall(ch, Addresses.PS_GET_MODEL, q));
  }

  @Override
  public Future<ModelReply> updateAndFetch(UpdateRequest request) {
    return channel(request.getParticipantId()).compose(ch -> ch.client == null
        ? call(Addresses.PS_UPDATE_AND_FETCH, request, ProtobufCodec.options(timeoutMs))
        : dataCall(ch, Addresses.PS_UPDATE_AND_FETCH, request));
  }

  @Override
  public void release(ModelReply reply) {
    ByteBuffer b = leased.remove(reply);
    Future<Channel> ch = channel;
    if (b != null && ch != null && ch.succeeded() && ch.result().pool != null) {
      ch.result().pool.release(b);
    }
  }

  @Override
  public Future<Void> leave(String participantId) {
    return vertx.eventBus().<LeaveReply>request(Addresses.PS_LEAVE,
            LeaveRequest.newBuilder().setParticipantId(participantId).build(),
            // Leaving is a courtesy on the way out: never hold a finished trainer long.
            ProtobufCodec.options(Math.min(timeoutMs, 5_000)))
        .<Void>mapEmpty().recover(e -> Future.failedFuture(RpcException.of(e)));
  }

  /** The data channel, set up on first use (and after a failure); the event bus on a local node. */
  private Future<Channel> channel(String participantId) {
    if (!vertx.isClustered()) {
      return Future.succeededFuture(new Channel(null, null));
    }
    synchronized (this) {
      Future<Channel> current = channel;
      // Ask again after a failed set-up or once the connection closed (server gone or restarted).
      if (current == null || current.failed()
          || current.succeeded() && current.result().client != null && !current.result().client.isOpen()) {
        current = resolve(participantId);
        channel = current;
      }
      return current;
    }
  }

  /** Asks the server for its data endpoint and connects to it. */
  private Future<Channel> resolve(String participantId) {
    DataEndpointRequest q = DataEndpointRequest.newBuilder().setParticipantId(participantId).build();
    return this.<DataEndpoint>call(Addresses.PS_DATA_ENDPOINT, q, ProtobufCodec.options(timeoutMs))
        .compose(ep -> {
          if (ep.getPort() == 0) {
            return Future.succeededFuture(new Channel(null, null));
          }
          // Keep two models' worth of free buffers: the reply in use and the next one.
          BufferPool pool = new BufferPool(2 * ep.getMaxPayloadBytes());
          // Gradients and models through shared memory when the server is on this host and the
          // model is not too large for it (ShmSegment); else in the frames.
          long shm = ep.getMaxPayloadBytes() <= ShmSegment.maxSlotBytes() ? ep.getMaxPayloadBytes() : 0;
          return DataClient.connect(vertx, ep.getHost(), ep.getPort(), ep.getMaxPayloadBytes(), pool, shm,
                  ep.getLocalPath())
              .map(c -> new Channel(c, pool));
        });
  }

  private Future<ModelReply> dataCall(Channel ch, String method, com.google.protobuf.Message request) {
    TensorPayload.Split parts = TensorPayload.split(request);
    Promise<ModelReply> result = VertxInternals.promise(vertx.getOrCreateContext());
    inFlight.add(result);
    ch.client.call(method, parts.body().toByteString(), TensorPayload.view(parts.data()), timeoutMs)
        .onComplete(ar -> {
          inFlight.remove(result);
          if (ar.failed()) {
            RpcException e = RpcException.of(ar.cause());
            if (e.code() == FailureCode.UNAVAILABLE && ch.client.isOpen()) {
              // No reply in time: closing the connection tells the server this caller gave up,
              // so a request still in its open round leaves it and the retry is not a DUPLICATE.
              // The next call connects again.
              ch.client.close();
            }
            result.tryFail(e);
            return;
          }
          DataClient.Response r = ar.result();
          ModelReply reply;
          try {
            reply = TensorPayload.join(ModelReply.parseFrom(r.body()), r.payload());
          } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
            ch.pool.release(r.payload());
            result.tryFail(new RpcException(FailureCode.BAD_REQUEST, "malformed ModelReply from the data channel: "
                + e.getMessage(), e));
            return;
          }
          if (r.payload() != null) {
            leased.put(reply, r.payload());
          }
          if (!result.tryComplete(reply)) {
            release(reply);
          }
        });
    return result.future();
  }

  private <T> Future<T> call(String address, Object body, DeliveryOptions options) {
    // Completed on the caller's context, also when the server's loss fails it from elsewhere.
    Promise<T> result = VertxInternals.promise(vertx.getOrCreateContext());
    inFlight.add(result);
    vertx.eventBus().<T>request(address, body, options).onComplete(ar -> {
      inFlight.remove(result);
      if (ar.succeeded()) {
        String node = ar.result().headers().get(Addresses.NODE_HEADER);
        if (node != null) {
          serverNode = node;
        }
        result.tryComplete(ar.result().body());
      } else {
        result.tryFail(RpcException.of(ar.cause()));
      }
    });
    return result.future();
  }

  @Override
  public void abandon() {
    Future<Channel> ch;
    synchronized (this) {
      ch = channel;
      channel = null;
    }
    if (ch != null) {
      // in use: closed now (its calls fail UNAVAILABLE); still being set up: closed once it is
      ch.onSuccess(c -> {
        if (c.client != null) {
          c.client.close();
        }
      });
    }
  }

  /** The server's node left: nothing in flight will be answered, and its data channel is gone. */
  private void serverLost(String why) {
    serverNode = null;
    RpcException gone = new RpcException(FailureCode.UNAVAILABLE, why + "; the call will not be answered");
    for (Promise<?> p : inFlight) {
      if (inFlight.remove(p)) {
        p.tryFail(gone);
      }
    }
    // After the calls failed with the reason: closing the channel would fail them with less.
    Future<Channel> ch = channel;
    channel = null;
    if (ch != null && ch.succeeded() && ch.result().client != null) {
      ch.result().client.close();
    }
  }
}
