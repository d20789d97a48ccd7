package dev.batchrpc.runtime.node;

import dev.batchrpc.runtime.VertxInternals;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.spi.cluster.NodeListener;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Which cluster node each participant (trainer, observer) registered from, so that a node leaving
 * the cluster (crashed, killed, partitioned away: Hazelcast removes it after
 * {@code --member-timeout-s}) becomes the departure of its participants, and no round waits for
 * them.
 *
 * <p>A registration message names its sender's node in the {@code batchrpc-node} header
 * ({@link dev.batchrpc.proto.Addresses#NODE_HEADER}), which every clustered node started by
 * {@link Nodes} stamps on what it sends; without the header (a gRPC client, a node of another
 * make) the participant is simply not tracked, and the round's maximum wait and the Leave call
 * are what protect the rounds from it.
 *
 * <p>Confined to the context that created it (a verticle's event loop): {@link #bind} must be
 * called there, and the loss callback runs there.
 */
public final class ParticipantNodes {

  private final Map<String, String> nodeOf = new HashMap<>();
  private final Node.Watch watch;

  private ParticipantNodes(Vertx vertx, Consumer<String> onLost) {
    this.vertx = vertx;
    this.onLost = onLost;
    this.watch = Nodes.watchMembers(vertx, new NodeListener() {
      @Override
      public void nodeAdded(String nodeId) {
        // A participant on a new node counts once it registers.
      }

      @Override
      public void nodeLeft(String nodeId) {
        lost(nodeId);
      }
    });
    // The membership events can miss a departure (bench chaos: a participant paused past the
    // member timeout, merged back, then killed, was never seen leaving, and every restart under
    // its id was refused as a duplicate): the bound nodes are checked against the members now
    // every RECONCILE_MS, and at every registration that would be refused.
    this.reconcile = VertxInternals.clusterManager(vertx) == null ? -1
        : vertx.setPeriodic(RECONCILE_MS, t -> reconcile());
  }

  /** Milliseconds between two checks of the bound nodes against the cluster's members. */
  static final long RECONCILE_MS = 2_000;

  private final Vertx vertx;
  private final Consumer<String> onLost;
  private final long reconcile;

  /** The participants bound to {@code nodeId} leave. */
  private void lost(String nodeId) {
    List<String> lost = nodeOf.entrySet().stream()
        .filter(e -> e.getValue().equals(nodeId)).map(Map.Entry::getKey).sorted().toList();
    for (String id : lost) {
      nodeOf.remove(id);
      onLost.accept(id);
    }
  }

  /** Bound nodes that are no cluster member now leave (a departure the events missed). */
  private void reconcile() {
    if (nodeOf.isEmpty()) {
      return;
    }
    java.util.Set<String> members = members();
    if (members == null) {
      return;
    }
    for (String node : new java.util.TreeSet<>(nodeOf.values())) {
      if (!members.contains(node)) {
        lost(node);
      }
    }
  }

  /** The cluster's members now (Vert.x node ids), or null when not clustered or unknown. */
  private java.util.Set<String> members() {
    io.vertx.core.spi.cluster.ClusterManager cm = VertxInternals.clusterManager(vertx);
    if (cm == null) {
      return null;
    }
    try {
      return new java.util.HashSet<>(cm.getNodes());
    } catch (RuntimeException e) {
      return null;
    }
  }

  /**
   * Starts tracking on the current context.
   *
   * @param vertx the node's Vert.x instance (started by {@link Nodes})
   * @param onLost called on this context with each participant whose node left the cluster
   * @return the tracker
   */
  public static ParticipantNodes watch(Vertx vertx, Consumer<String> onLost) {
    return new ParticipantNodes(vertx, Objects.requireNonNull(onLost, "onLost"));
  }

  /**
   * Records that a participant registered from the node named in the message's header (no header,
   * or this process's own node id when not clustered: not tracked).
   *
   * @param participantId the participant
   * @param registration its registration message
   */
  public void bind(String participantId, Message<?> registration) {
    String node = registration.headers().get(dev.batchrpc.proto.Addresses.NODE_HEADER);
    if (node == null || node.isBlank() || Node.LOCAL_NODE_ID.equals(node)) {
      nodeOf.remove(participantId);
      return;
    }
    nodeOf.put(participantId, node);
  }

  /** Forgets a participant (it left by itself). */
  public void unbind(String participantId) {
    nodeOf.remove(participantId);
  }

  /**
   * The live node a participant is bound to when a registration comes from another node: a second
   * process under the id of a live one (its node is still a cluster member: a node that left was
   * unbound). Null when the id is not bound, the registration names no node, or names the same one.
   *
   * @param participantId the participant
   * @param registration its registration message
   * @return the other node's id, or null
   */
  public String boundElsewhere(String participantId, Message<?> registration) {
    String node = registration.headers().get(dev.batchrpc.proto.Addresses.NODE_HEADER);
    String bound = nodeOf.get(participantId);
    if (bound == null || node == null || node.isBlank() || Node.LOCAL_NODE_ID.equals(node)) {
      return null;
    }
    if (bound.equals(node)) {
      return null;
    }
    java.util.Set<String> members = members();
    if (members != null && !members.contains(bound)) {
      // its node is gone although no event said so: it leaves, the newcomer is no duplicate
      lost(bound);
      return null;
    }
    return bound;
  }

  /** Stops watching the cluster. */
  public void close() {
    watch.cancel();
    if (reconcile >= 0) {
      vertx.cancelTimer(reconcile);
    }
  }
}
