package dev.batchrpc.runtime.node;

import com.hazelcast.config.Config;
import com.hazelcast.config.JavaSerializationFilterConfig;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.runtime.VertxInternals;
import dev.batchrpc.runtime.net.Tls;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Starts the process's Vert.x node: plain or clustered over Hazelcast (TCP/IP join only, never
 * multicast; phone-home off), with Micrometer metrics into one Prometheus registry and the
 * protobuf event-bus codec registered.
 *
 * <p>Security (docs/security.md): every listener binds the configured host (127.0.0.1 unless
 * configured otherwise); with {@link NodeConfig#tls()} the clustered event bus uses TLS and
 * requires a peer certificate of the CA, and the node's gRPC servers and clients use TLS
 * ({@link Tls}); Java serialization is off on the event bus (bodies are protobuf or Vert.x's
 * simple types) and filtered to Hazelcast's own and a few JDK classes in Hazelcast.
 */
public final class Nodes {

  /**
   * Held strongly: {@link Logger} keeps only weak references, and a collected logger would forget
   * the level set here.
   */
  private static final Logger HAZELCAST_LOG = Logger.getLogger("com.hazelcast");

  /**
   * How often, in seconds, the master of a cluster looks for another cluster of the same name on
   * its seed members and merges the smaller into the larger (Hazelcast's split-brain merge;
   * its defaults, 300 s for the first check and 120 s after, would keep a participant that was
   * paused or partitioned away alone for minutes). The check costs one connection attempt per seed
   * address that is not a member.
   */
  public static final int MERGE_CHECK_S = 5;

  /**
   * How long, in seconds, a node keeps trying the address of a member that left when it looks for
   * the cluster it was split from (Hazelcast's "previously joined member addresses", 4 hours by
   * default). Each such address that is dead (a process killed or restarted on a new port or pod
   * IP) costs that search up to 5 s (Hazelcast's fixed split-brain connection timeout), tried in no
   * particular order before the live master's: {@code bench chaos} saw a ps paused past the member
   * timeout merge back 31 s after it resumed, behind the addresses of trainers restarted minutes
   * before. A node split off removes the others the moment it finds itself alone, so their
   * addresses are fresh for its next three merge checks; after that its seeds (every service's
   * seed list names the other services: docker-compose.yml, deploy/k8s) still lead it back. (Two
   * halves of equal size merge in whichever direction a hash picks, so there the larger side's
   * master may be the one that must search: by its seeds, or those fresh addresses.)
   */
  public static final int LEFT_MEMBER_ADDRESS_RETENTION_S = 3 * MERGE_CHECK_S;

  /** System property: the number of Vert.x event loops (default: Vert.x's, twice the cores). */
  public static final String EVENT_LOOPS_PROPERTY = "batchrpc.event-loops";

  /**
   * System property: the most microseconds an event loop polls for more work, yielding the core,
   * before it sleeps (0, the default: it sleeps at once). Each loop's poll adapts to its idle
   * periods up to that (as KVM's halt polling does, {@link SpinningTransport.SpinStrategy}): it
   * polls through gaps shorter than this and sleeps at once where its gaps are longer. A latency
   * knob for processes that answer each other in quick turns on a host with idle cores: on a
   * virtual machine a sleeping core halts, and waking it costs tens of microseconds per message
   * (docs/architecture.md, "Event loops that poll before they sleep"). Linux (native epoll) only.
   */
  public static final String SPIN_US_PROPERTY = "batchrpc.spin-us";

  /** The largest {@link #SPIN_US_PROPERTY}: 10 ms. */
  static final long MAX_SPIN_US = 10_000;

  private static final Logger LOG = Logger.getLogger(Nodes.class.getName());

  private Nodes() {
  }

  /**
   * Parses {@link #SPIN_US_PROPERTY}'s value: unset or blank is 0.
   *
   * @throws IllegalArgumentException naming the property, for anything but 0..{@link #MAX_SPIN_US}
   */
  static long spinMicros(String value) {
    if (value == null || value.isBlank()) {
      return 0;
    }
    String name = "-D" + SPIN_US_PROPERTY;
    try {
      return requireSpinMicros(name, Long.parseLong(value.trim()));
    } catch (NumberFormatException e) {
      throw badSpin(name, value);
    }
  }

  /**
   * Checks a polling time given as {@code name} (the property, or a command's flag that sets it).
   *
   * @return {@code us}, when it is 0..{@link #MAX_SPIN_US}
   * @throws IllegalArgumentException naming {@code name} and the value, otherwise
   */
  public static long requireSpinMicros(String name, long us) {
    if (us < 0 || us > MAX_SPIN_US) {
      throw badSpin(name, Long.toString(us));
    }
    return us;
  }

  private static IllegalArgumentException badSpin(String name, String value) {
    return new IllegalArgumentException(name + " must be a whole number of microseconds from 0 to " + MAX_SPIN_US
        + ", got '" + value + "'");
  }

  /**
   * Starts a node with a new Prometheus registry, the process's one.
   *
   * @param config the validated node settings
   * @return the started node, or the failure to start (a cluster that cannot be joined, a port in use)
   */
  public static Future<Node> start(NodeConfig config) {
    return start(config, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  /**
   * Starts a node that reports into the given registry (closed with the node).
   *
   * @param config the validated node settings
   * @param registry the process's registry
   * @return the started node
   */
  public static Future<Node> start(NodeConfig config, PrometheusMeterRegistry registry) {
    // Netty's native epoll transport where it loads (Linux x86-64; elsewhere Vert.x falls back to
    // NIO by itself): fewer system calls and no selector garbage per message, measured on the
    // agent's step path and the ps's rounds (docs/benchmarks/rl.md).
    VertxOptions options = new VertxOptions()
        .setPreferNativeTransport(true)
        .setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true).setJvmMetricsEnabled(true));
    // A JVM tuning knob, not a service setting: a process whose work is one message loop (an
    // observer, a one-process benchmark on few cores) runs fastest on one event loop, where a
    // hand-off between verticles is a queued task rather than a thread wake-up.
    Integer eventLoops = Integer.getInteger(EVENT_LOOPS_PROPERTY);
    if (eventLoops != null && eventLoops > 0) {
      options.setEventLoopPoolSize(eventLoops);
    }
    VertxBuilder builder = Vertx.builder().withMetrics(new MicrometerMetricsFactory(registry));
    long spinUs;
    String spinSetting;
    if (config.spinUs() > 0) {
      spinUs = config.spinUs();
      spinSetting = "--spin-us " + spinUs;
    } else {
      try {
        spinUs = spinMicros(System.getProperty(SPIN_US_PROPERTY));
      } catch (IllegalArgumentException e) {
        registry.close();
        return Future.failedFuture(e);
      }
      spinSetting = "-D" + SPIN_US_PROPERTY + "=" + spinUs;
    }
    if (spinUs > 0) {
      io.vertx.core.transport.Transport epoll = io.vertx.core.transport.Transport.EPOLL;
      if (epoll != null && epoll.available()) {
        builder.withTransport(new SpinningTransport(epoll, spinUs * 1000, true));
        LOG.info(() -> "event loops poll for up to " + spinUs + " us before they sleep, adapting to their idle periods ("
            + spinSetting + ")");
      } else {
        LOG.warning(() -> spinSetting + " ignored: it needs Netty's native epoll transport, which is not available here");
      }
    }
    Future<Node> node;
    if (!config.clustered()) {
      Vertx vertx = builder.with(options).build();
      node = Future.succeededFuture(new Node(vertx, registry, config, null));
    } else {
      EventBusOptions eventBus = new EventBusOptions()
          .setHost(config.clusterHost())
          .setPort(config.eventBusPort())
          .setClusterPublicHost(config.publicHost() == null ? config.clusterHost() : config.publicHost());
      if (config.publicPort() != -1) {
        eventBus.setClusterPublicPort(config.publicPort());
      }
      if (config.tls() != null) {
        Tls.eventBus(eventBus, config.tls());
      }
      options.setEventBusOptions(eventBus);
      FanOutClusterManager clusterManager = new FanOutClusterManager(hazelcastConfig(config));
      node = builder.with(options).withClusterManager(clusterManager).buildClustered()
          .map(vertx -> new Node(vertx, registry, config, clusterManager))
          .recover(e -> Future.failedFuture(startFailure(e, config)));
    }
    return node
        .map(Nodes::registerCodecs)
        .onFailure(e -> registry.close());
  }

  /**
   * Observes nodes joining and leaving the cluster of a Vert.x instance started by
   * {@link #start(NodeConfig)} (see {@link Node#watchMembers}). Events are delivered on the
   * caller's context (a verticle's event loop), or a new one from a non-Vert.x thread; an instance
   * that is not clustered, or clustered by another cluster manager, never sees an event.
   *
   * @param vertx the node's Vert.x instance
   * @param listener called with the Vert.x node id of each node added or left
   * @return a handle that stops the events
   */
  public static Node.Watch watchMembers(Vertx vertx, io.vertx.core.spi.cluster.NodeListener listener) {
    java.util.Objects.requireNonNull(listener, "listener");
    if (!(VertxInternals.clusterManager(vertx) instanceof FanOutClusterManager cm)) {
      return () -> { };
    }
    io.vertx.core.Context context = vertx.getOrCreateContext();
    io.vertx.core.spi.cluster.NodeListener onContext = new io.vertx.core.spi.cluster.NodeListener() {
      @Override
      public void nodeAdded(String nodeId) {
        context.runOnContext(v -> listener.nodeAdded(nodeId));
      }

      @Override
      public void nodeLeft(String nodeId) {
        context.runOnContext(v -> listener.nodeLeft(nodeId));
      }
    };
    cm.addListener(onContext);
    return () -> cm.removeListener(onContext);
  }

  /**
   * A clustered node's failure to start, naming the flag and the port when a port was taken:
   * Hazelcast's ({@code --cluster-port}, when it may not auto-increment) or the event bus's
   * ({@code --event-bus-port}); any other failure as it is.
   */
  static Throwable startFailure(Throwable failure, NodeConfig config) {
    StringBuilder text = new StringBuilder();
    boolean bind = false;
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      bind |= t instanceof java.net.BindException;
      text.append(' ').append(t.getMessage());
    }
    String all = text.toString();
    if (!bind && !all.contains("in use")) {
      return failure;
    }
    // Hazelcast starts first: "Port [5701] is already in use and auto-increment is disabled".
    if (all.contains("Port [") || all.contains("auto-increment")) {
      return dev.batchrpc.runtime.net.Ports.bindFailure(failure, "Hazelcast port", "--cluster-port",
          config.clusterHost(), config.clusterPort());
    }
    return dev.batchrpc.runtime.net.Ports.bindFailure(failure, "event-bus port", "--event-bus-port",
        config.clusterHost(), config.eventBusPort());
  }

  /**
   * Observes this node rejoining its cluster after a split: paused (SIGSTOP, a long GC) or
   * partitioned away for longer than the member timeout, it was removed by the others, formed a
   * cluster of its own, and has now been merged back (Hazelcast's split-brain check, every
   * {@link #MERGE_CHECK_S} s). The others dropped its participants from their rounds meanwhile:
   * a participant that hears this registers again. The callback runs on the caller's context (as
   * {@link #watchMembers}); a node that is not clustered never sees it.
   *
   * @param vertx the node's Vert.x instance
   * @param onRejoin called once per merge
   * @return a handle that stops the events
   */
  public static Node.Watch watchRejoins(Vertx vertx, Runnable onRejoin) {
    java.util.Objects.requireNonNull(onRejoin, "onRejoin");
    if (!(VertxInternals.clusterManager(vertx) instanceof FanOutClusterManager cm)) {
      return () -> { };
    }
    io.vertx.core.Context context = vertx.getOrCreateContext();
    Runnable onContext = () -> context.runOnContext(v -> onRejoin.run());
    cm.addRejoinListener(onContext);
    return () -> cm.removeRejoinListener(onContext);
  }

  /**
   * The single place where every node registers its event-bus codecs, locks the bus down to them
   * and installs its TLS config for the gRPC servers and clients.
   */
  private static Node registerCodecs(Node node) {
    ProtobufCodec.register(node.vertx());
    EventBus bus = node.vertx().eventBus();
    // No Java serialization, either way: a Serializable or ClusterSerializable body is neither
    // encoded for the wire nor decoded from it (Vert.x checks these on both sides), so a peer
    // cannot make this node deserialize a class of its choosing.
    bus.serializableChecker(className -> false);
    bus.clusterSerializableChecker(className -> false);
    if (node.isClustered()) {
      bus.codecSelector(Nodes::selectClusterCodec);
      // Every message and reply says which node sent it (dev.batchrpc.proto.Addresses#NODE_HEADER),
      // so a service can drop a participant, and a client fail its calls, when that node leaves.
      String self = node.nodeId();
      bus.addOutboundInterceptor(ctx -> {
        ctx.message().headers().set(dev.batchrpc.proto.Addresses.NODE_HEADER, self);
        ctx.next();
      });
    }
    Tls.install(node.vertx(), node.config().tls());
    return node;
  }

  /**
   * The codec selector of a clustered node: Vert.x asks it for a body that none of its built-in
   * codecs (String, Buffer, JSON, byte[], boxed primitives) takes. Protobuf messages get
   * {@link ProtobufCodec}; anything else is refused at once with the reason, where Vert.x would
   * otherwise say only "No message codec for type".
   *
   * @param body an event-bus body of no built-in type
   * @return {@link ProtobufCodec#NAME}
   * @throws IllegalArgumentException for any other body (thrown by send, request, publish, reply)
   */
  static String selectClusterCodec(Object body) {
    String codec = ProtobufCodec.selectCodec(body);
    if (codec == null) {
      throw new IllegalArgumentException("cannot send a " + body.getClass().getName()
          + " on the clustered event bus: bodies are protobuf messages or Vert.x's simple types "
          + "(String, Buffer, JsonObject, JsonArray, byte[], boxed primitives); Java serialization is disabled");
    }
    return codec;
  }

  /**
   * The programmatic Hazelcast config: the cluster name, TCP/IP join to the configured members,
   * the configured bind address and port, phone-home and Hazelcast's own metrics off, JDK logging
   * at WARNING, and the maps Vert.x expects (as in vertx-hazelcast's {@code default-cluster.xml}).
   */
  static Config hazelcastConfig(NodeConfig config) {
    HAZELCAST_LOG.setLevel(Level.WARNING);
    Config hz = new Config();
    hz.setClusterName(config.clusterName());
    hz.setProperty("hazelcast.phone.home.enabled", "false");
    hz.setProperty("hazelcast.logging.type", "jdk");
    // Vert.x leaves the cluster itself on close; Hazelcast's own hook would race it.
    hz.setProperty("hazelcast.shutdownhook.enabled", "false");
    // Hazelcast's own metrics: nobody reads them (a node's metrics are Micrometer's, on /metrics),
    // and their collector, every 5 s, failed with a stack trace when a member left mid-collection.
    hz.getMetricsConfig().setEnabled(false);
    // Bind and advertise this exact address (a pod IP, 127.0.0.1 in tests), not whatever
    // interface Hazelcast would pick.
    hz.setProperty("hazelcast.local.localAddress", config.clusterHost());
    // ... and listen on it alone, not on every interface (loopback unless configured otherwise).
    hz.setProperty("hazelcast.socket.bind.any", "false");
    // Failure detection: a member silent for memberTimeoutS is removed, and the services drop its
    // participants from their rounds. Hazelcast's 60 s default would hold a round for a minute.
    int heartbeat = Math.max(1, config.memberTimeoutS() / 5);
    hz.setProperty("hazelcast.heartbeat.interval.seconds", Integer.toString(heartbeat));
    hz.setProperty("hazelcast.max.no.heartbeat.seconds", Integer.toString(config.memberTimeoutS()));
    // A member removed for silence (SIGSTOP, a partition) that comes back forms a cluster of its
    // own; it is merged back within MERGE_CHECK_S and its participants register again
    // (watchRejoins; docs/fault-tolerance.md, "Rejoin").
    hz.setProperty("hazelcast.merge.first.run.delay.seconds", Integer.toString(MERGE_CHECK_S));
    hz.setProperty("hazelcast.merge.next.run.delay.seconds", Integer.toString(MERGE_CHECK_S));
    hz.setProperty("hazelcast.tcp.join.previously.joined.member.address.retention.seconds",
        Integer.toString(LEFT_MEMBER_ADDRESS_RETENTION_S));
    NetworkConfig network = hz.getNetworkConfig();
    network.setPort(config.clusterPort()).setPortAutoIncrement(config.clusterPortAutoIncrement());
    JoinConfig join = network.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    join.getTcpIpConfig().setEnabled(true).setMembers(config.clusterMembers());
    hz.getMultiMapConfig("__vertx.subs").setBackupCount(1)
        .setValueCollectionType(com.hazelcast.config.MultiMapConfig.ValueCollectionType.SET);
    hz.getMapConfig("__vertx.haInfo").setBackupCount(1);
    hz.getMapConfig("__vertx.nodeInfo").setBackupCount(1);
    hz.getSerializationConfig().setJavaSerializationFilterConfig(javaSerializationFilter());
    return hz;
  }

  /**
   * Hazelcast's filter on Java deserialization (a member is not authenticated, so what it sends
   * must not pick the classes this node instantiates). Deny by default, then allow what is
   * Java-serialized in practice:
   * <ul>
   *   <li>Vert.x's cluster-wide counters: their updates are entry processors written as
   *       serializable lambdas of {@code HazelcastCounter} (with {@code Long} arguments). A
   *       {@code SerializedLambda} resolves only through its capturing class's own
   *       {@code $deserializeLambda$}, so allowing that one class admits its three lambdas and no
   *       other code.</li>
   *   <li>An operation's failure, sent back to the member that invoked it: Hazelcast's own
   *       exceptions (e.g. a retryable {@code WrongTargetException} during a migration, which
   *       must decode to be retried) and a few JDK ones. A failure of another type arrives as a
   *       serialization error instead: still a failure.</li>
   * </ul>
   * Vert.x's other cluster data (registrations, node infos, HA info, locks) uses Hazelcast's own
   * serialization. An empty whitelist would mean "allow all" to Hazelcast; this one never is.
   */
  static JavaSerializationFilterConfig javaSerializationFilter() {
    JavaSerializationFilterConfig filter = new JavaSerializationFilterConfig().setDefaultsDisabled(true);
    filter.getWhitelist()
        .addPrefixes("com.hazelcast.")
        // Exactly java.lang (not java.lang.invoke or .reflect): Throwable, StackTraceElement, the
        // boxed primitives and java.lang's exceptions.
        .addPackages("java.lang")
        .addClasses("java.lang.invoke.SerializedLambda", "io.vertx.spi.cluster.hazelcast.impl.HazelcastCounter",
            "[Ljava.lang.Object;",
            "[Ljava.lang.StackTraceElement;", "java.util.ArrayList", "java.util.Collections$EmptyList",
            "java.util.Collections$UnmodifiableList", "java.util.Collections$UnmodifiableRandomAccessList",
            "java.util.concurrent.CancellationException", "java.util.concurrent.ExecutionException",
            "java.util.concurrent.TimeoutException", "java.util.concurrent.RejectedExecutionException",
            "java.util.ConcurrentModificationException", "java.util.NoSuchElementException",
            "java.io.IOException", "java.io.UncheckedIOException");
    return filter;
  }
}
