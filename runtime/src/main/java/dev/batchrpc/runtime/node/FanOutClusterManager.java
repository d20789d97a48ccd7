package dev.batchrpc.runtime.node;

import com.hazelcast.config.Config;
import com.hazelcast.core.LifecycleEvent;
import io.vertx.core.spi.cluster.NodeListener;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A Hazelcast cluster manager whose node events also reach our own listeners.
 *
 * <p>A {@code ClusterManager} holds a single {@link NodeListener}, which Vert.x itself installs
 * (its HA manager cleans up a dead node's event-bus registrations from it): replacing it would
 * break Vert.x. So the one listener Vert.x installs is wrapped, and every event goes to Vert.x
 * first, then to the extra listeners. Node ids are Vert.x's, the ids {@link #getNodes()} returns.
 *
 * <p>Thread-safety: events arrive on Hazelcast threads; the listener list is copy-on-write.
 */
final class FanOutClusterManager extends HazelcastClusterManager {

  private final List<NodeListener> extra = new CopyOnWriteArrayList<>();
  private final List<Runnable> rejoins = new CopyOnWriteArrayList<>();
  private volatile boolean installed;

  FanOutClusterManager(Config config) {
    super(config);
  }

  @Override
  public void nodeListener(NodeListener vertxListener) {
    installed = true;
    super.nodeListener(new NodeListener() {
      @Override
      public void nodeAdded(String nodeId) {
        if (vertxListener != null) {
          vertxListener.nodeAdded(nodeId);
        }
        extra.forEach(l -> l.nodeAdded(nodeId));
      }

      @Override
      public void nodeLeft(String nodeId) {
        if (vertxListener != null) {
          vertxListener.nodeLeft(nodeId);
        }
        extra.forEach(l -> l.nodeLeft(nodeId));
      }
    });
  }

  /** Adds a listener; installs the fan-out itself if Vert.x never set a listener. */
  void addListener(NodeListener listener) {
    extra.add(listener);
    if (!installed) {
      nodeListener(null);
    }
  }

  void removeListener(NodeListener listener) {
    extra.remove(listener);
  }

  /**
   * Hazelcast merged this member back into a cluster it had been split from (it was paused or
   * partitioned past the member timeout, formed a cluster of its own, and the split-brain check
   * found the larger cluster again). Vert.x first republishes this node's registrations and node
   * info (its own handling of the event); then the rejoin listeners hear of it: the other members
   * dropped this node's participants meanwhile, so they must register again.
   */
  @Override
  public synchronized void stateChanged(LifecycleEvent event) {
    super.stateChanged(event);
    if (event.getState() == LifecycleEvent.LifecycleState.MERGED) {
      rejoins.forEach(Runnable::run);
    }
  }

  void addRejoinListener(Runnable listener) {
    rejoins.add(listener);
  }

  void removeRejoinListener(Runnable listener) {
    rejoins.remove(listener);
  }
}
