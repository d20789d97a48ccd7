package dev.batchrpc.runtime.node;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.spi.cluster.NodeListener;
import java.util.List;

/**
 * A started Vert.x instance with its process-wide Prometheus registry, plain or clustered. Made by
 * {@link Nodes#start(NodeConfig)}. Thread-safe.
 */
public final class Node {

  /** The {@link #nodeId()} of a node that is not clustered. */
  public static final String LOCAL_NODE_ID = "local";

  private final Vertx vertx;
  private final PrometheusMeterRegistry registry;
  private final NodeConfig config;
  private final FanOutClusterManager clusterManager;

  Node(Vertx vertx, PrometheusMeterRegistry registry, NodeConfig config, FanOutClusterManager clusterManager) {
    this.vertx = vertx;
    this.registry = registry;
    this.config = config;
    this.clusterManager = clusterManager;
  }

  /** The Vert.x instance. */
  public Vertx vertx() {
    return vertx;
  }

  /**
   * The process's one meter registry: Vert.x's own metrics go to it; services register theirs in it
   * and serve {@link #scrape()} on their metrics endpoint.
   */
  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The configuration the node was started with. */
  public NodeConfig config() {
    return config;
  }

  /** True for a Hazelcast-clustered node. */
  public boolean isClustered() {
    return clusterManager != null;
  }

  /** This node's cluster id (the one {@link #members()} and membership events use), or {@link #LOCAL_NODE_ID}. */
  public String nodeId() {
    return clusterManager == null ? LOCAL_NODE_ID : clusterManager.getNodeId();
  }

  /** The ids of the cluster's current nodes, this one included; just this one when not clustered. */
  public List<String> members() {
    return clusterManager == null ? List.of(LOCAL_NODE_ID) : List.copyOf(clusterManager.getNodes());
  }

  /**
   * Observes nodes joining and leaving the cluster (a lost trainer must not hang a round: its
   * service lowers the round's expected size). Events are delivered on the caller's context (for a
   * verticle: its event loop, so the listener may touch the verticle's state); from a non-Vert.x
   * thread, on a new event-loop context. A node that is not clustered never sees an event.
   *
   * @param listener called with the Vert.x node id of each node added or left
   * @return a handle that stops the events
   */
  public Watch watchMembers(NodeListener listener) {
    return Nodes.watchMembers(vertx, listener);
  }

  /**
   * Observes this node rejoining its cluster after a split (see {@link Nodes#watchRejoins}).
   *
   * @param onRejoin called on the caller's context once per merge
   * @return a handle that stops the events
   */
  public Watch watchRejoins(Runnable onRejoin) {
    return Nodes.watchRejoins(vertx, onRejoin);
  }

  /** The registry's metrics in the Prometheus text format, for a {@code /metrics} endpoint. */
  public String scrape() {
    return registry.scrape();
  }

  /** Closes Vert.x (leaving the cluster first, when clustered), then the registry. */
  public Future<Void> close() {
    return vertx.close().andThen(ar -> registry.close());
  }

  /** Stops a {@link #watchMembers} subscription. */
  @FunctionalInterface
  public interface Watch {
    /** Stops the events; idempotent. */
    void cancel();
  }
}
