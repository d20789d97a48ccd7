package dev.batchrpc.observer;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.DataEndpoint;
import dev.batchrpc.proto.v1.DataEndpointRequest;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.bus.LocalCalls;
import dev.batchrpc.runtime.data.BufferPool;
import dev.batchrpc.runtime.data.DataClient;
import dev.batchrpc.runtime.data.Frames;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import java.util.logging.Logger;

/**
 * An observer's default {@link ActionSource}: the agent's data channel when the agent has one
 * (asked once at {@link Addresses#AGENT_DATA_ENDPOINT}, then one TCP connection for every step),
 * else {@link Addresses#AGENT_SELECT_ACTION} on the event bus (an agent started with
 * {@code --data-port -1}); on a plain node the agent in this process, called directly
 * ({@link LocalCalls}: the local event bus's per-message work was about a third of a step).
 *
 * <p>Why: a step is a few dozen bytes, and on a clustered node the event bus costs a fixed few
 * hundred microseconds per message (its framing, the hand-offs between its connection's loop and
 * the consumer's); on the data channel a step is one frame each way on a socket served on the
 * agent's own loop. See docs/benchmarks/rl.md.
 *
 * <p>A connection that closes (the agent stopped or restarted) fails the step in flight, as the
 * event bus would; the next step asks for the endpoint again (without a data channel: once per
 * episode). Confined to the observer's event loop.
 */
final class AgentActions implements ActionSource {

  private static final Logger LOG = Logger.getLogger(AgentActions.class.getName());

  /**
   * The largest report sent on the data channel too: it travels in a frame's header, which holds
   * 64 KiB (an episode of about 10,000 steps); a longer episode's report goes on the event bus only.
   */
  static final int MAX_REPORT_BYTES = Frames.MAX_HEADER_BYTES - 1024;

  private final Vertx vertx;
  private final String observerId;
  private final long timeoutMs;
  /** The agent in this process, on a plain (not clustered) node. */
  private final LocalCalls.Caller<SelectActionRequest, SelectActionReply> local;
  /** The open data channel, or null (not asked yet, gone, or the agent has none). */
  private DataClient channel;
  /** Set while the endpoint is being asked for or connected to. */
  private Future<DataClient> connecting;
  /** The episode for which the agent said it has no data channel (its steps go on the bus), or -1. */
  private long busEpisode = -1;

  AgentActions(Vertx vertx, String observerId, long timeoutMs) {
    this.vertx = vertx;
    this.observerId = observerId;
    this.timeoutMs = timeoutMs;
    this.local = LocalCalls.caller(vertx, Addresses.AGENT_SELECT_ACTION, timeoutMs);
  }

  @Override
  public Future<SelectActionReply> selectAction(SelectActionRequest request) {
    DataClient c = channel;
    if (c != null && c.isOpen()) {
      return viaData(c, request);
    }
    channel = null;
    if (!vertx.isClustered()) {
      // An agent in this process: called directly when it is the only one (else on the bus).
      Future<SelectActionReply> direct = local.call(request);
      return direct != null ? direct : viaBus(request);
    }
    if (busEpisode == request.getEpisode()) {
      return viaBus(request);
    }
    // Asked again each episode while there is no channel: the agent may have restarted with one.
    return connect().compose(client -> {
      if (client == null) {
        busEpisode = request.getEpisode();
        return viaBus(request);
      }
      return viaData(client, request);
    });
  }

  /** The data channel, or null when the agent has none; one connection attempt at a time. */
  private Future<DataClient> connect() {
    if (!vertx.isClustered()) {
      return Future.succeededFuture(null);
    }
    if (connecting == null) {
      DataEndpointRequest q = DataEndpointRequest.newBuilder().setParticipantId(observerId).build();
      connecting = vertx.eventBus().<DataEndpoint>request(Addresses.AGENT_DATA_ENDPOINT, q,
              ProtobufCodec.options(timeoutMs))
          .map(Message::body)
          .recover(e -> {
            if (e instanceof ReplyException r && r.failureType() == ReplyFailure.NO_HANDLERS) {
              // No agent listens at that address (an agent of an older release, or none yet):
              // the step goes over the event bus, which says the rest.
              return Future.succeededFuture(DataEndpoint.getDefaultInstance());
            }
            return Future.failedFuture(e);
          })
          .compose(ep -> ep.getPort() == 0 ? Future.succeededFuture((DataClient) null)
              : DataClient.connect(vertx, ep.getHost(), ep.getPort(), 0, new BufferPool(0), 0, ep.getLocalPath(), true)
                  .onSuccess(client -> LOG.fine(() -> "observer '" + observerId
                      + "': steps go over the agent's data channel at " + client.endpoint())))
          .andThen(ar -> {
            connecting = null;
            channel = ar.succeeded() ? ar.result() : null;
          });
    }
    return connecting;
  }

  /**
   * Sends the episode's report over the data channel too, when one is open: the reply to the
   * run-episode call goes back on the clustered event bus, whose connection to the agent's node
   * can be stuck for tens of seconds while the cluster's membership settles (looking the node up
   * waits for the cluster; seen in {@code bench chaos}). The agent counts whichever comes first.
   * Best effort: a failure here changes nothing, the event bus's reply still counts; a
   * report over {@link #MAX_REPORT_BYTES} goes on the event bus only.
   */
  @Override
  public void episodeDone(RunEpisodeReply report) {
    DataClient c = channel;
    if (c == null || !c.isOpen() || report.getSerializedSize() > MAX_REPORT_BYTES) {
      return;
    }
    c.call(Addresses.AGENT_EPISODE_REPORT, report.toByteString(), null, timeoutMs)
        .onFailure(e -> LOG.fine(() -> "observer '" + observerId + "': episode " + report.getEpisode()
            + "'s report on the data channel failed (the event bus's reply still counts): " + e.getMessage()));
  }

  private Future<SelectActionReply> viaData(DataClient client, SelectActionRequest request) {
    return client.call(Addresses.AGENT_SELECT_ACTION, request.toByteString(), null, timeoutMs)
        .compose(r -> {
          try {
            return Future.succeededFuture(SelectActionReply.parseFrom(r.body()));
          } catch (InvalidProtocolBufferException e) {
            return Future.failedFuture(new RpcException(FailureCode.BAD_REQUEST,
                "the agent answered a malformed SelectActionReply: " + e.getMessage()));
          }
        });
  }

  private Future<SelectActionReply> viaBus(SelectActionRequest request) {
    return vertx.eventBus().<SelectActionReply>request(Addresses.AGENT_SELECT_ACTION, request,
        ProtobufCodec.options(timeoutMs)).map(Message::body);
  }

  /** Closes the data channel, if any. */
  Future<Void> close() {
    local.close();
    DataClient c = channel;
    channel = null;
    return c == null ? Future.succeededFuture() : c.close();
  }
}
