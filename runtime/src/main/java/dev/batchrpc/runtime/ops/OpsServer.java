package dev.batchrpc.runtime.ops;

import dev.batchrpc.runtime.node.Node;
import io.vertx.core.Future;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.util.Map;

/**
 * The operations endpoint of one process: {@code GET /metrics} (Prometheus text format from the
 * node's registry), {@code GET /health/live} (200 while the process serves requests) and
 * {@code GET /health/ready} (200 when every {@link Readiness} condition holds, else 503 with the
 * conditions as JSON; 200 with {@code "status": "DEGRADED"} and a {@code details} entry while a
 * {@link Readiness#degradation} holds: still serving, with less than it promises). Used by Prometheus, docker compose health checks and Kubernetes probes.
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
    HttpServer server = node.vertx().createHttpServer(new HttpServerOptions().setHost(host).setPort(port));
    server.requestHandler(req -> handle(node, readiness, req));
    return server.listen().map(OpsServer::new).recover(e -> Future.failedFuture(
        dev.batchrpc.runtime.net.Ports.bindFailure(e, "metrics port", "--metrics-port", host, port)));
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
