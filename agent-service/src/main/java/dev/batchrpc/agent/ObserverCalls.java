package dev.batchrpc.agent;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.ObserverGrpcClient;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.RunEpisodeRequest;
import dev.batchrpc.runtime.net.Tls;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import java.util.concurrent.TimeUnit;

/**
 * The agent's run-episode calls to its observers: on the event bus
 * ({@code observer.<id>.run-episode}), or over gRPC ({@code Observer.RunEpisode}) for an observer
 * registered with an endpoint. Every call may take {@code --episode-timeout-ms} at most.
 *
 * <p>Confined to the agent's event loop.
 */
final class ObserverCalls {

  private final Vertx vertx;
  private final long timeoutMs;
  /** Made at the first gRPC call. */
  private GrpcClient grpcClient;

  ObserverCalls(Vertx vertx, long timeoutMs) {
    this.vertx = vertx;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Asks observer {@code id} to run an episode.
   *
   * @param grpcEndpoint where it takes gRPC calls, or null for the event bus
   */
  Future<RunEpisodeReply> runEpisode(String id, SocketAddress grpcEndpoint, RunEpisodeRequest episode) {
    // named, so that one gRPC endpoint can serve several observers
    RunEpisodeRequest q = episode.toBuilder().setObserverId(id).build();
    if (grpcEndpoint == null) {
      return vertx.eventBus().<RunEpisodeReply>request(Addresses.observerRunEpisode(id), q,
          ProtobufCodec.options(timeoutMs)).map(Message::body);
    }
    if (grpcClient == null) {
      // Every call has a deadline: an observer's episode may take --episode-timeout-ms at most.
      grpcClient = GrpcClient.client(vertx, new GrpcClientOptions().setMaxMessageSize(Agent.MAX_MESSAGE_BYTES)
          .setTimeout((int) Math.min(Integer.MAX_VALUE, timeoutMs))
          .setTimeoutUnit(TimeUnit.MILLISECONDS).setScheduleDeadlineAutomatically(true),
          Tls.grpcClient(vertx, new HttpClientOptions()));
    }
    return ObserverGrpcClient.create(grpcClient, grpcEndpoint).runEpisode(q);
  }

  /** Closes the gRPC client, if one was made. */
  Future<Void> close() {
    return grpcClient == null ? Future.succeededFuture() : grpcClient.close();
  }
}
