package dev.batchrpc.proto;

import java.util.regex.Pattern;

/**
 * Every event-bus address of batch-rpc, in one place, and the limits both ends of an address
 * check (ids, episode length). Addresses are dotted, service first.
 *
 * <p>Payloads on all of them are protobuf messages from {@code dev.batchrpc.proto.v1}, carried by
 * {@link ProtobufCodec}, except the {@link #AGENT_STARTED} announcement (a plain string);
 * failures are {@code message.fail(code, text)} with a {@link FailureCode}.
 */
public final class Addresses {

  /** {@code UpdateRequest} in, {@code ModelReply} out: join the parameter server's current round. */
  public static final String PS_UPDATE_AND_FETCH = "ps.update-and-fetch";

  /** {@code GetModelRequest} in, {@code ModelReply} out: the current model, no round. */
  public static final String PS_GET_MODEL = "ps.get-model";

  /** {@code GetLayoutRequest} in, {@code ModelLayout} out: the model's named tensors. */
  public static final String PS_GET_LAYOUT = "ps.get-layout";

  /**
   * {@code InitModelRequest} in, {@code InitModelReply} out: the model of a server started without
   * one ({@code ps --model init}); the first writer wins.
   */
  public static final String PS_INIT_MODEL = "ps.init-model";

  /**
   * {@code DataEndpointRequest} in, {@code DataEndpoint} out: where the parameter server's data
   * channel listens (tensor bytes travel there, not on the event bus); binds the caller's node to
   * its participant id.
   */
  public static final String PS_DATA_ENDPOINT = "ps.data-endpoint";

  /**
   * {@code DataEndpointRequest} in, {@code DataEndpoint} out: where the agent's data channel
   * listens (observers send their steps there, not on the event bus; port 0: use the event bus).
   */
  public static final String AGENT_DATA_ENDPOINT = "agent.data-endpoint";

  /** {@code SelectActionRequest} in, {@code SelectActionReply} out: one observer's step. */
  public static final String AGENT_SELECT_ACTION = "agent.select-action";

  /**
   * On the agent's data channel only: a {@code RunEpisodeReply} as the payload in, an empty body
   * out. An observer sends its episode's report here as well as answering the agent's run-episode
   * call: the first of the two to arrive counts, the other is ignored.
   */
  public static final String AGENT_EPISODE_REPORT = "agent.episode-report";

  /** {@code RegisterObserverRequest} in, {@code RegisterObserverReply} out: announce an observer. */
  public static final String AGENT_REGISTER = "agent.register";

  /** {@code LeaveRequest} in, {@code LeaveReply} out: a trainer leaves the parameter server's rounds. */
  public static final String PS_LEAVE = "ps.leave";

  /** {@code LeaveRequest} in, {@code LeaveReply} out: an observer leaves the agent's rounds. */
  public static final String AGENT_LEAVE = "agent.leave";

  /**
   * Published (not sent) by an agent once it has started, so observers already running register
   * again. The body is the string {@code "started"}, not a protobuf message: listeners read
   * nothing from it, and it needs no codec.
   */
  public static final String AGENT_STARTED = "agent.started";

  /**
   * The event-bus message header naming the sender's cluster node id (its Vert.x node id). Every
   * clustered node started by the runtime stamps it on all it sends, replies included: a service
   * drops a participant from its rounds when the participant's node leaves the cluster, and a
   * client fails its calls in flight when the server's node does.
   */
  public static final String NODE_HEADER = "batchrpc-node";

  /**
   * The header in which a requester says how long it waits for the reply, in milliseconds
   * ({@link ProtobufCodec#options(long)} sets it): a service that parks the request (in an open
   * round) takes it back once that long has passed since it arrived, as it does for a gRPC
   * deadline. Counted from arrival, so never before the requester gave up.
   */
  public static final String CALLER_TIMEOUT_HEADER = "batchrpc-timeout-ms";

  /** The longest id accepted, so addresses, logs and metric descriptions stay bounded. */
  public static final int MAX_ID_LENGTH = 128;

  /**
   * The most steps one episode may ask for ({@code n_steps} of a {@code RunEpisodeRequest}). An
   * episode's steps size the observer's reward arrays and the agent's per-episode record (states,
   * dropout masks, actions: about 540 bytes per step and observer), so both ends refuse an absurd
   * {@code n_steps} before anything is allocated.
   */
  public static final int MAX_EPISODE_STEPS = 1_000_000;

  private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.-]+");

  private Addresses() {
  }

  /**
   * The address an observer listens on for {@code RunEpisodeRequest}s:
   * {@code observer.<id>.run-episode}.
   *
   * @param observerId the observer's id, see {@link #requireValidId(String)}
   * @return the address
   * @throws IllegalArgumentException if the id is null, empty, too long or has other characters
   */
  public static String observerRunEpisode(String observerId) {
    return "observer." + requireValidId(observerId) + ".run-episode";
  }

  /**
   * The id of observer {@code index} of an agent's {@code --observers N} (index 0..N-1):
   * {@code observer-<index>}, the id an observer takes unless given another and the agent expects.
   *
   * @param index the observer's index, from 0
   * @return the id
   * @throws IllegalArgumentException for a negative index
   */
  public static String defaultObserverId(int index) {
    if (index < 0) {
      throw new IllegalArgumentException("an observer index must be >= 0, got " + index);
    }
    return "observer-" + index;
  }

  /**
   * Checks a participant or observer id: 1 to {@value #MAX_ID_LENGTH} characters from
   * {@code [A-Za-z0-9_.-]}. The same rule holds for {@code participant_id} and {@code observer_id}
   * fields, so an id that is valid on the wire is valid in an address.
   *
   * @param id the id to check
   * @return the id, unchanged
   * @throws IllegalArgumentException naming the offending id
   */
  public static String requireValidId(String id) {
    if (id == null || id.isEmpty()) {
      throw new IllegalArgumentException("invalid id " + (id == null ? "null" : "''")
          + ": an id must be non-empty, from [A-Za-z0-9_.-]");
    }
    if (id.length() > MAX_ID_LENGTH) {
      throw new IllegalArgumentException("invalid id '" + id.substring(0, 32) + "...' ("
          + id.length() + " characters): at most " + MAX_ID_LENGTH + " allowed");
    }
    if (!ID.matcher(id).matches()) {
      throw new IllegalArgumentException("invalid id '" + id
          + "': only letters, digits, '_', '.' and '-' are allowed");
    }
    return id;
  }

  /**
   * Whether {@link #requireValidId(String)} would accept the id.
   *
   * @param id the id to check, may be null
   * @return true if the id is valid
   */
  public static boolean isValidId(String id) {
    return id != null && !id.isEmpty() && id.length() <= MAX_ID_LENGTH && ID.matcher(id).matches();
  }
}
