package dev.batchrpc.observer;

import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import io.vertx.core.Future;

/**
 * Where an observer gets its actions: the agent over the event bus ({@link ObserverVerticle}'s
 * default), over gRPC, or a stub in tests.
 */
@FunctionalInterface
public interface ActionSource {

  /**
   * Asks for the action for one state.
   *
   * @param request the observer's id, the episode, the step and the state
   * @return the agent's reply; a failure ends the episode with that failure
   */
  Future<SelectActionReply> selectAction(SelectActionRequest request);

  /**
   * Told of each episode this observer finished, as its report goes back as the reply to the
   * agent's run-episode call: a source with a path of its own to the agent sends the report there
   * too. Nothing by default.
   */
  default void episodeDone(RunEpisodeReply report) {
  }
}
