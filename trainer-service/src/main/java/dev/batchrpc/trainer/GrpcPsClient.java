package dev.batchrpc.trainer;

import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.LeaveRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.grpc.GrpcCalls;
import dev.batchrpc.runtime.net.Tls;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;

/**
 * A trainer's way to the parameter server over gRPC ({@code trainer --ps-grpc HOST:PORT}): the
 * same rounds as the event bus, for a trainer outside the Hazelcast cluster (another network, a
 * client-only deployment). Refusals come back as the server's {@code RpcException}s (from the
 * status details), an unreachable server as {@code UNAVAILABLE}, so {@link Trainer} retries and
 * recovers exactly as on the event bus. TLS when the node has it ({@code --tls-*}).
 */
final class GrpcPsClient implements PsClient {

  private final GrpcClient client;
  private final SocketAddress server;
  private final long timeoutMs;

  GrpcPsClient(Vertx vertx, SocketAddress server, long maxMessageBytes, long timeoutMs) {
    GrpcClientOptions options = new GrpcClientOptions().setMaxMessageSize(maxMessageBytes)
        .setScheduleDeadlineAutomatically(true);
    this.client = GrpcClient.client(vertx, options, Tls.grpcClient(vertx, new io.vertx.core.http.HttpClientOptions()));
    this.server = server;
    this.timeoutMs = timeoutMs;
  }

  @Override
  public Future<ModelReply> getModel(String participantId) {
    return GrpcCalls.unary(client, server, ParameterServerGrpcClient.GetModel,
        GetModelRequest.newBuilder().setParticipantId(participantId).build(), timeoutMs);
  }

  @Override
  public Future<ModelReply> updateAndFetch(UpdateRequest request) {
    return GrpcCalls.unary(client, server, ParameterServerGrpcClient.UpdateAndFetchModel, request, timeoutMs);
  }

  @Override
  public Future<Void> leave(String participantId) {
    return GrpcCalls.unary(client, server, ParameterServerGrpcClient.Leave,
        LeaveRequest.newBuilder().setParticipantId(participantId).build(), timeoutMs).mapEmpty();
  }
}
