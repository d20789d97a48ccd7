package dev.batchrpc.runtime.net;

import io.vertx.core.Vertx;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.shareddata.LocalMap;

/**
 * The one place that turns a {@link TlsConfig} into Vert.x options: the clustered event bus, the
 * gRPC servers and the gRPC clients. Services do not build TLS options themselves; they ask for
 * the options of the Vert.x instance they run on ({@link #grpcServer(Vertx, HttpServerOptions)},
 * {@link #grpcClient(Vertx, HttpClientOptions)}), which are plain when the node has no TLS.
 *
 * <p><b>Identity.</b> A peer is trusted when its certificate chains to the configured CA; host
 * names are not checked. Vert.x's clustered event bus never verifies them (its client sets an
 * empty hostname-verification algorithm) and nodes dial each other by IP address (a pod IP that
 * changes with every restart), so the CA must be private to one deployment: every certificate it
 * signs is a member. The gRPC client follows the same rule for the same reason. docs/security.md
 * explains the choice.
 *
 * <p>Thread-safety: stateless; the per-instance config lives in the instance's local shared data.
 */
public final class Tls {

  private static final String MAP = "batchrpc.tls";
  private static final String KEY = "config";

  private Tls() {
  }

  /**
   * Makes every gRPC server and client this project creates on {@code vertx} use TLS with
   * {@code config}. {@link dev.batchrpc.runtime.node.Nodes#start} calls it for a node started
   * with TLS; a test may call it on a plain instance.
   *
   * @param vertx the instance
   * @param config the TLS material, or null to remove it
   */
  public static void install(Vertx vertx, TlsConfig config) {
    LocalMap<String, TlsConfig> map = vertx.sharedData().getLocalMap(MAP);
    if (config == null) {
      map.remove(KEY);
    } else {
      map.put(KEY, config);
    }
  }

  /**
   * The TLS config installed on an instance.
   *
   * @param vertx the instance
   * @return the config, or null when the instance runs without TLS
   */
  public static TlsConfig of(Vertx vertx) {
    return vertx.sharedData().<String, TlsConfig>getLocalMap(MAP).get(KEY);
  }

  /**
   * Adds TLS to the clustered event bus's options: this node's certificate, trust in the CA alone
   * (never trust-all) and client authentication {@link ClientAuth#REQUIRED}, so a node without a
   * certificate of the CA can neither connect to this one nor accept this one's connections.
   *
   * @param options the event-bus options to change
   * @param config the TLS material
   * @return {@code options}
   */
  public static EventBusOptions eventBus(EventBusOptions options, TlsConfig config) {
    options.setSsl(true)
        .setKeyCertOptions(keyCert(config))
        .setTrustOptions(trust(config))
        .setTrustAll(false)
        .setClientAuth(ClientAuth.REQUIRED);
    return options;
  }

  /**
   * Options for a gRPC server on the instance: TLS with ALPN (gRPC is HTTP/2, negotiated as
   * {@code h2}) and the config's client authentication when the instance has TLS, else
   * {@code options} unchanged (plain HTTP/2).
   *
   * @param vertx the instance the server runs on
   * @param options the server's other options (changed in place)
   * @return {@code options}
   */
  public static HttpServerOptions grpcServer(Vertx vertx, HttpServerOptions options) {
    TlsConfig config = of(vertx);
    return config == null ? options : grpcServer(options, config);
  }

  /**
   * Adds TLS to a gRPC server's options.
   *
   * @param options the server's options (changed in place)
   * @param config the TLS material
   * @return {@code options}
   */
  public static HttpServerOptions grpcServer(HttpServerOptions options, TlsConfig config) {
    options.setSsl(true)
        .setUseAlpn(true)
        .setKeyCertOptions(keyCert(config))
        .setTrustOptions(trust(config))
        .setClientAuth(config.grpcClientAuth());
    return options;
  }

  /**
   * Options for a gRPC client on the instance: HTTP/2 always, and with TLS it trusts the CA alone
   * and presents this node's certificate (servers may require it). Without TLS, HTTP/2 starts
   * with prior knowledge, as Vert.x's own default gRPC client does: gRPC servers of other stacks
   * do not answer an HTTP/1.1 upgrade.
   *
   * @param vertx the instance the client runs on
   * @param options the client's other options (changed in place)
   * @return {@code options}
   */
  public static HttpClientOptions grpcClient(Vertx vertx, HttpClientOptions options) {
    options.setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false);
    TlsConfig config = of(vertx);
    return config == null ? options : grpcClient(options, config);
  }

  /**
   * Adds TLS to a gRPC client's options.
   *
   * @param options the client's options (changed in place)
   * @param config the TLS material
   * @return {@code options}
   */
  public static HttpClientOptions grpcClient(HttpClientOptions options, TlsConfig config) {
    options.setSsl(true)
        .setUseAlpn(true)
        .setProtocolVersion(HttpVersion.HTTP_2)
        .setKeyCertOptions(keyCert(config))
        .setTrustOptions(trust(config))
        .setTrustAll(false)
        // See the class comment: the CA is the identity, endpoints are IP addresses.
        .setVerifyHost(false);
    return options;
  }

  /**
   * Options for a data-channel server on the instance (tensor bytes between services): with TLS,
   * as the clustered event bus: this node's certificate, trust in the CA alone, client
   * certificates required. Without TLS, {@code options} unchanged.
   *
   * @param vertx the instance the server runs on
   * @param options the server's other options (changed in place)
   * @return {@code options}
   */
  public static NetServerOptions dataServer(Vertx vertx, NetServerOptions options) {
    TlsConfig config = of(vertx);
    if (config != null) {
      options.setSsl(true)
          .setKeyCertOptions(keyCert(config))
          .setTrustOptions(trust(config))
          .setClientAuth(ClientAuth.REQUIRED);
    }
    return options;
  }

  /**
   * Options for a data-channel client on the instance: with TLS it presents this node's
   * certificate and trusts the CA alone (no host-name check, see the class comment).
   *
   * @param vertx the instance the client runs on
   * @param options the client's other options (changed in place)
   * @return {@code options}
   */
  public static NetClientOptions dataClient(Vertx vertx, NetClientOptions options) {
    TlsConfig config = of(vertx);
    if (config != null) {
      options.setSsl(true)
          .setKeyCertOptions(keyCert(config))
          .setTrustOptions(trust(config))
          .setTrustAll(false)
          .setHostnameVerificationAlgorithm("");
    }
    return options;
  }

  private static PemKeyCertOptions keyCert(TlsConfig config) {
    return new PemKeyCertOptions().setCertPath(config.cert().toString()).setKeyPath(config.key().toString());
  }

  private static PemTrustOptions trust(TlsConfig config) {
    return new PemTrustOptions().addCertPath(config.ca().toString());
  }
}
