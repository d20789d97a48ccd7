package dev.batchrpc.trainer;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.LeaveReply;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.node.Nodes;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.spi.cluster.NodeListener;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link PsClient#eventBus}: requests with a timeout, and calls in flight failed at once when the
 * server's node leaves the cluster.
 *
 * <p>Thread-safety: used by any number of trainers on any contexts. The server's node id (from the
 * {@code batchrpc-node} header every clustered node stamps on its replies) is volatile; the calls
 * in flight are a concurrent set; node events arrive on one context.
 */
final class EventBusPsClient implements PsClient {

  private final Vertx vertx;
  private final long timeoutMs;
  private final Set<Promise<?>> inFlight = ConcurrentHashMap.newKeySet();
  private volatile String serverNode;

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
          serverLost(nodeId);
        }
      }
    });
  }

  @Override
  public Future<ModelReply> getModel(String participantId) {
    // The node header every clustered node stamps on what it sends lets the server drop this
    // trainer when its node leaves.
    return call(Addresses.PS_GET_MODEL, GetModelRequest.newBuilder().setParticipantId(participantId).build(),
        ProtobufCodec.options(timeoutMs));
  }

  @Override
  public Future<ModelReply> updateAndFetch(UpdateRequest request) {
    return call(Addresses.PS_UPDATE_AND_FETCH, request, ProtobufCodec.options(timeoutMs));
  }

  @Override
  public Future<Void> leave(String participantId) {
    return vertx.eventBus().<LeaveReply>request(Addresses.PS_LEAVE,
            LeaveRequest.newBuilder().setParticipantId(participantId).build(),
            // Leaving is a courtesy on the way out: never hold a finished trainer long.
            ProtobufCodec.options(Math.min(timeoutMs, 5_000)))
        .<Void>mapEmpty().recover(e -> Future.failedFuture(RpcException.of(e)));
  }

  private <T> Future<T> call(String address, Object body, DeliveryOptions options) {
    // Completed on the caller's context, also when the server's loss fails it from elsewhere.
    Promise<T> result = ((io.vertx.core.internal.ContextInternal) vertx.getOrCreateContext()).promise();
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

  /** The server's node left: nothing in flight will be answered. */
  private void serverLost(String nodeId) {
    serverNode = null;
    RpcException gone = new RpcException(FailureCode.UNAVAILABLE, "the parameter server's node " + nodeId
        + " left the cluster; the call will not be answered");
    for (Promise<?> p : inFlight) {
      if (inFlight.remove(p)) {
        p.tryFail(gone);
      }
    }
  }
}
