package dev.batchrpc.agent;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.runtime.data.DataServer;
import java.util.Map;

/**
 * The agent's calls on the data channel ({@link DataServer}): {@code agent.episode-report}, and
 * {@code agent.select-action}, the same
 * call as on the event bus and gRPC, into the same step round. A step is a few dozen bytes, all in
 * the frame's header (no payload): what the data channel saves here is the clustered event bus's
 * fixed cost per message, not copies.
 *
 * <p>Threads: the data server serves it on the agent's own event loop (its home context), so a
 * step reaches the round, and the action its socket, without a thread hand-off.
 */
final class AgentData {

  private AgentData() {
  }

  /** The methods to serve for {@code agent}. */
  static Map<String, DataServer.Method> methods(Agent agent) {
    return Map.of(Addresses.AGENT_SELECT_ACTION, selectAction(agent), Addresses.AGENT_EPISODE_REPORT, report(agent));
  }

  /**
   * {@code agent.episode-report}: an observer's {@code RunEpisodeReply} in the frame's header (an
   * episode of up to about 10,000 steps fits; an observer sends none for a longer one), also sent
   * as the answer to the agent's run-episode call on the event bus; whichever arrives first counts
   * ({@link Agent#episodeReport}). Answers an empty body either way.
   */
  private static DataServer.Method report(Agent agent) {
    return DataServer.Method.headerOnly(Addresses.AGENT_EPISODE_REPORT, "the report is in the request",
        RunEpisodeReply.getDefaultInstance(),
        (report, callerGone) -> agent.episodeReport(report).map(counted -> new DataServer.Reply(ByteString.EMPTY, null)));
  }

  private static DataServer.Method selectAction(Agent agent) {
    // A connection that closes while its step waits in the open round takes the step back.
    return DataServer.Method.headerOnly(Addresses.AGENT_SELECT_ACTION, "the state is in the request",
        SelectActionRequest.getDefaultInstance(),
        (q, callerGone) -> agent.selectAction(q, callerGone, "its data-channel connection closed")
            .map(reply -> new DataServer.Reply(reply.toByteString(), null)));
  }
}
