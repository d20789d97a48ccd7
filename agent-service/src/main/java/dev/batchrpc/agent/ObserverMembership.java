package dev.batchrpc.agent;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.net.SocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Who of the agent's observers is registered, who left, who sits out the running episode, and
 * where an observer registered over gRPC takes its episode calls. Bookkeeping only: the agent
 * turns these answers into round departures and returns.
 *
 * <ul>
 *   <li>An observer that leaves (its node left the cluster, it called Leave, or its episode call
 *       went unanswered) is <em>departed</em> until it registers again.</li>
 *   <li>One that registers again after leaving, or that missed a step round closed by the maximum
 *       wait, <em>sits out</em> until the next episode starts: an episode that started without it,
 *       or that went on without it, must not wait for it.</li>
 * </ul>
 *
 * <p>Confined to the agent's event loop.
 */
final class ObserverMembership {

  private static final Logger LOG = Logger.getLogger(ObserverMembership.class.getName());

  private final List<String> ids;
  private final Set<String> known;
  private final Set<String> registered = new HashSet<>();
  /** Observers that left (node gone, Leave, no answer) and have not registered again. */
  private final Set<String> departed = new HashSet<>();
  /** Observers out of the step rounds until the next episode starts. */
  private final Set<String> sittingOut = new HashSet<>();
  private final Map<String, SocketAddress> grpcEndpoints = new HashMap<>();

  /** The membership of the observers {@code ids} (index order), none registered yet. */
  ObserverMembership(List<String> ids) {
    this.ids = List.copyOf(ids);
    this.known = Set.copyOf(ids);
  }

  /**
   * Refuses an id that is not one of the agent's observers.
   *
   * @throws RpcException {@code UNKNOWN_PARTICIPANT}
   */
  void requireKnown(String id) {
    if (!known.contains(id)) {
      throw new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "observer '" + id
          + "' is not one of the agent's observers " + ids);
    }
  }

  /**
   * Registers an observer (again): it takes its episode calls at {@code grpcEndpoint}, or on the
   * event bus when that is empty. One that had left sits out until the next episode.
   *
   * @return how many observers are registered now
   * @throws RpcException {@code UNKNOWN_PARTICIPANT} for an id not among the agent's observers,
   *     {@code BAD_REQUEST} for an endpoint that is not {@code host:port}, {@code DUPLICATE} for
   *     an id that is live elsewhere (registered on another transport or endpoint and not gone);
   *     nothing changes. Registering again the same way is allowed.
   */
  int register(String id, String grpcEndpoint) {
    requireKnown(id);
    SocketAddress endpoint = null;
    if (!grpcEndpoint.isEmpty()) {
      try {
        endpoint = parseEndpoint(grpcEndpoint);
      } catch (IllegalArgumentException e) {
        throw new RpcException(FailureCode.BAD_REQUEST, e.getMessage());
      }
    }
    SocketAddress live = grpcEndpoints.get(id);
    if (registered.contains(id) && !departed.contains(id) && !Objects.equals(live, endpoint)) {
      // Another observer under a live one's id (a gRPC one taking over an in-process one, say):
      // refused, so the live one is not silently cut off mid-episode.
      String refusal = "observer '" + id + "' is live " + where(live) + "; a registration " + where(endpoint)
          + " would replace it: it must leave (Leave) or be dropped first";
      LOG.warning(() -> "agent: refused: " + refusal);
      throw new RpcException(FailureCode.DUPLICATE, refusal);
    }
    if (endpoint != null) {
      grpcEndpoints.put(id, endpoint);
    } else {
      grpcEndpoints.remove(id);
    }
    registered.add(id);
    if (departed.remove(id)) {
      LOG.info(() -> "agent: observer '" + id + "' is back; it takes part from the next episode");
      sittingOut.add(id);
    }
    return registered.size();
  }

  /**
   * An observer is gone until it registers again.
   *
   * @return whether it was here until now (false: it had left already)
   */
  boolean depart(String id) {
    if (!departed.add(id)) {
      return false;
    }
    registered.remove(id);
    return true;
  }

  /** The observers not registered now (never, or departed since), in index order. */
  List<String> unregistered() {
    List<String> out = new ArrayList<>();
    for (String id : ids) {
      if (!registered.contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  /** The observers that left and have not come back; a fresh step round starts without them. */
  Set<String> departed() {
    return Collections.unmodifiableSet(departed);
  }

  /** The observers that have not left, in index order: the members of the next episode. */
  List<String> live() {
    List<String> members = new ArrayList<>();
    for (String id : ids) {
      if (!departed.contains(id)) {
        members.add(id);
      }
    }
    return members;
  }

  /**
   * Puts an observer out of the step rounds until the next episode starts.
   *
   * @return whether it was not sitting out already
   */
  boolean sitOut(String id) {
    return sittingOut.add(id);
  }

  /** Ends every sit-out (an episode starts): those observers take part again. */
  List<String> endSitOuts() {
    List<String> back = new ArrayList<>(sittingOut);
    sittingOut.clear();
    return back;
  }

  private static String where(SocketAddress endpoint) {
    return endpoint == null ? "on the event bus" : "over gRPC at " + endpoint;
  }

  /** Where a gRPC observer takes its episode calls, or null for one on the event bus. */
  SocketAddress grpcEndpoint(String id) {
    return grpcEndpoints.get(id);
  }

  /** {@code host:port}, the port 1-65535. */
  static SocketAddress parseEndpoint(String endpoint) {
    return dev.batchrpc.runtime.net.Ports.parseHostPort(endpoint, "grpc_endpoint");
  }

}
