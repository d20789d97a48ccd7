package dev.batchrpc.runtime.node;

import io.vertx.core.Future;
import io.vertx.core.shareddata.AsyncMap;

/**
 * One owner per role in a cluster: the parameter server (or the agent) owns its cluster's rounds,
 * so a second one started on the same {@code --cluster-name} refuses to start, naming the first,
 * instead of both serving and the trainers' calls alternating between two models.
 *
 * <p>The owner record is an entry of a cluster-wide map: the owner's node id and a description. A
 * record whose node is no longer a member (it crashed, or left without releasing) is stale and is
 * taken over, so the record dies with its member. Claims are atomic ({@code putIfAbsent},
 * {@code replaceIfPresent}): of two servers starting at once, one wins.
 */
public final class ClusterRoles {

  private static final String MAP = "batchrpc.roles";
  private static final char SEPARATOR = '\n';

  private ClusterRoles() {
  }

  /**
   * Claims {@code role} for this process, described as {@code "<role> pid <pid> on <cluster
   * host>:<cluster port>"}; see {@link #claim(Node, String, String)}.
   */
  public static Future<Void> claim(Node node, String role) {
    return claim(node, role, role + " pid " + ProcessHandle.current().pid() + " on " + node.config().clusterHost()
        + ":" + node.config().clusterPort());
  }

  /**
   * Claims {@code role} for this node; on a node that is not clustered it always succeeds.
   *
   * @param node this node
   * @param role e.g. "ps"
   * @param description how an operator recognises this owner, e.g. "ps on 10.0.0.5 (pid 4242)"
   * @return completes when claimed; fails with an {@link IllegalStateException} naming the live
   *     owner otherwise
   */
  public static Future<Void> claim(Node node, String role, String description) {
    if (!node.isClustered()) {
      return Future.succeededFuture();
    }
    String mine = node.nodeId() + SEPARATOR + description;
    return node.vertx().sharedData().<String, String>getAsyncMap(MAP)
        .compose(map -> map.putIfAbsent(role, mine).compose(held -> held == null || held.equals(mine)
            ? Future.succeededFuture() : takeOverIfStale(node, map, role, held, mine)));
  }

  /**
   * Releases the role if this node holds it (a clean stop), so a successor need not wait for
   * this member to leave the cluster.
   *
   * @return completes when done (also when not held)
   */
  public static Future<Void> release(Node node, String role, String description) {
    if (!node.isClustered()) {
      return Future.succeededFuture();
    }
    String mine = node.nodeId() + SEPARATOR + description;
    return node.vertx().sharedData().<String, String>getAsyncMap(MAP)
        .compose(map -> map.removeIfPresent(role, mine)).mapEmpty();
  }

  private static Future<Void> takeOverIfStale(Node node, AsyncMap<String, String> map, String role, String held,
      String mine) {
    int cut = held.indexOf(SEPARATOR);
    String owner = cut < 0 ? held : held.substring(0, cut);
    String what = cut < 0 ? "node " + owner : held.substring(cut + 1) + " (node " + owner + ")";
    if (node.members().contains(owner)) {
      return Future.failedFuture(new IllegalStateException("another " + role + " owns the rounds of cluster '"
          + node.config().clusterName() + "': " + what + "; stop it, or start this one with another --cluster-name"));
    }
    return map.replaceIfPresent(role, held, mine).compose(replaced -> replaced ? Future.succeededFuture()
        : Future.failedFuture(new IllegalStateException("another " + role + " claimed the rounds of cluster '"
            + node.config().clusterName() + "' at the same time; stop it, or start this one with another "
            + "--cluster-name")));
  }
}
