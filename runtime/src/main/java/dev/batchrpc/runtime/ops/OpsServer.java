package dev.batchrpc.runtime.ops;

import dev.batchrpc.runtime.node.Node;
import io.vertx.core.Future;
import dev.batchrpc.runtime.net.ConnectionLimits;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The operations endpoint of one process: {@code GET /metrics} (Prometheus text format from the
 * node's registry), {@code GET /health/live} (200 while the process serves requests) and
 * {@code GET /health/ready} (200 when every {@link Readiness} condition holds, else 503 with the
 * conditions as JSON; 200 with {@code "status": "DEGRADED"} and a {@code details} entry while a
 * {@link Readiness#degradation} holds: still serving, with less than it promises). Used by Prometheus, docker compose health checks and Kubernetes probes.
 *
 * <p>Connections ({@link ConnectionLimits}): at most {@code --max-connections} at once, closed
 * when idle for {@code --idle-timeout-s} and when a request's headers are not complete within
 * {@code --header-timeout-s} of the connection's start or its previous response.
 *
 * <p>Scraping formats every meter, which can take milliseconds on a busy node, so it runs on a
 * worker, never on the event loop.
 */
public final class OpsServer {

  /** The Prometheus text exposition format served on {@code /metrics}. */
  public static final String PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private final HttpServer server;

  private OpsServer(HttpServer server) {
    this.server = server;
  }

  /**
   * Starts the endpoint.
   *
   * @param node the node whose registry is served
   * @param host the address to bind (the services' {@code --ops-host})
   * @param port the port, 0 for any free one (the services' {@code --metrics-port})
   * @param readiness the process's readiness conditions
   * @return the started server
   */
  public static Future<OpsServer> start(Node node, String host, int port, Readiness readiness) {
    ConnectionLimits limits = ConnectionLimits.of(node.vertx());
    // HTTP/1.1 only (scrapers and probes speak nothing else): without h2c detection each accepted
    // connection is an HTTP connection at once, so the cap and the header deadline start at the
    // accept, not at the first bytes a client may never send.
    HttpServer server = node.vertx().createHttpServer(new HttpServerOptions().setHost(host).setPort(port)
        .setHttp2ClearTextEnabled(false)
        .setIdleTimeout(limits.idleTimeoutS()).setIdleTimeoutUnit(TimeUnit.SECONDS));
    ConnectionLimits.Gate gate = limits.gate();
    // Connections waiting for their next request's headers, with the timer that closes them.
    Map<HttpConnection, Long> awaitingHeaders = new ConcurrentHashMap<>();
    long headerTimeoutMs = TimeUnit.SECONDS.toMillis(limits.headerTimeoutS());
    server.connectionHandler(conn -> {
      if (!gate.admit()) {
        conn.close();
        return;
      }
      awaitHeaders(node, conn, awaitingHeaders, headerTimeoutMs);
      conn.closeHandler(v -> {
        gate.closed();
        Long timer = awaitingHeaders.remove(conn);
        if (timer != null) {
          node.vertx().cancelTimer(timer);
        }
      });
    });
    server.requestHandler(req -> {
      HttpConnection conn = req.connection();
      Long timer = awaitingHeaders.remove(conn);
      if (timer != null) {
        node.vertx().cancelTimer(timer);
      }
      // The next request on a kept-alive connection gets its own deadline.
      req.response().endHandler(v -> awaitHeaders(node, conn, awaitingHeaders, headerTimeoutMs));
      handle(node, readiness, req);
    });
    return server.listen().map(OpsServer::new).recover(e -> Future.failedFuture(
        dev.batchrpc.runtime.net.Ports.bindFailure(e, "metrics port", "--metrics-port", host, port)));
  }

  /**
   * Closes {@code conn} unless a request's headers arrive within the timeout: a client that opens
   * a connection and sends nothing, or drips its header a byte at a time, does not hold it.
   */
  private static void awaitHeaders(Node node, HttpConnection conn, Map<HttpConnection, Long> awaiting, long ms) {
    long timer = node.vertx().setTimer(ms, t -> {
      if (awaiting.remove(conn) != null) {
        conn.close();
      }
    });
    Long previous = awaiting.put(conn, timer);
    if (previous != null) {
      node.vertx().cancelTimer(previous);
    }
  }

  private static void handle(Node node, Readiness readiness, HttpServerRequest req) {
    String path = req.path();
    if (req.method().name().equals("GET") || req.method().name().equals("HEAD")) {
      switch (path) {
        case "/metrics" -> {
          node.vertx().executeBlocking(node::scrape, false)
              .onSuccess(text -> req.response().putHeader("content-type", PROMETHEUS_CONTENT_TYPE).end(text))
              .onFailure(e -> req.response().setStatusCode(500).end("scrape failed: " + e.getMessage()));
          return;
        }
        case "/health/live" -> {
          json(req, 200, new JsonObject().put("status", "UP"));
          return;
        }
        case "/health/ready" -> {
          boolean ready = readiness.isReady();
          JsonObject checks = new JsonObject();
          for (Map.Entry<String, Boolean> e : readiness.snapshot().entrySet()) {
            checks.put(e.getKey(), e.getValue() ? "UP" : "DOWN");
          }
          Map<String, String> degraded = readiness.degraded();
          JsonObject details = new JsonObject();
          degraded.forEach((name, detail) -> {
            checks.put(name, "DEGRADED");
            details.put(name, detail);
          });
          JsonObject body = new JsonObject().put("status", !ready ? "DOWN" : degraded.isEmpty() ? "UP" : "DEGRADED")
              .put("checks", checks);
          Map<String, String> reasons = readiness.reasons();
          if (!reasons.isEmpty()) {
            body.put("reasons", new JsonObject(new java.util.LinkedHashMap<>(reasons)));
          }
          json(req, ready ? 200 : 503, degraded.isEmpty() ? body : body.put("details", details));
          return;
        }
        default -> {
          // fall through to 404
        }
      }
    }
    req.response().setStatusCode(404).end("not found: " + path + " (try /metrics, /health/live, /health/ready)\n");
  }

  private static void json(HttpServerRequest req, int status, JsonObject body) {
    req.response().setStatusCode(status).putHeader("content-type", "application/json").end(body.encode());
  }

  /** The port actually bound. */
  public int port() {
    return server.actualPort();
  }

  /** Stops listening. */
  public Future<Void> close() {
    return server.close();
  }
}
