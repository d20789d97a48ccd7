package dev.batchrpc.runtime.ops;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import io.micrometer.core.instrument.Counter;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(VertxExtension.class)
class OpsServerTest {

  record Reply(int status, String contentType, String body) {}

  private static Future<Reply> get(HttpClient client, int port, String path) {
    return client.request(HttpMethod.GET, port, "127.0.0.1", path)
        .compose(req -> req.send())
        .compose((HttpClientResponse resp) -> resp.body()
            .map((Buffer body) -> new Reply(resp.statusCode(), resp.getHeader("content-type"), body.toString())));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void servesMetricsLivenessAndReadinessThatFollowsTheConditions(VertxTestContext ctx) {
    Readiness readiness = new Readiness().require("consumers").require("model");
    Nodes.start(NodeConfig.local()).compose(node -> {
      Counter.builder("ps.updates.applied").register(node.registry()).increment(3);
      return OpsServer.start(node, "127.0.0.1", 0, readiness).compose(ops -> {
        HttpClient client = node.vertx().createHttpClient();
        return get(client, ops.port(), "/metrics")
            .compose(metrics -> {
              ctx.verify(() -> {
                assertThat(metrics.status()).isEqualTo(200);
                assertThat(metrics.contentType()).startsWith("text/plain");
                assertThat(metrics.body()).contains("ps_updates_applied_total 3.0");
              });
              return get(client, ops.port(), "/health/live");
            })
            .compose(live -> {
              ctx.verify(() -> assertThat(live.status()).isEqualTo(200));
              readiness.set("consumers", true);
              return get(client, ops.port(), "/health/ready");
            })
            .compose(notReady -> {
              ctx.verify(() -> {
                assertThat(notReady.status()).isEqualTo(503);
                JsonObject json = new JsonObject(notReady.body());
                assertThat(json.getJsonObject("checks").getString("model")).isEqualTo("DOWN");
                assertThat(json.getJsonObject("checks").getString("consumers")).isEqualTo("UP");
              });
              readiness.set("model", true);
              return get(client, ops.port(), "/health/ready");
            })
            .compose(ready -> {
              ctx.verify(() -> assertThat(ready.status()).isEqualTo(200));
              return get(client, ops.port(), "/nope");
            })
            .compose(missing -> {
              ctx.verify(() -> assertThat(missing.status()).isEqualTo(404));
              return ops.close();
            })
            // Listeners of a closed Vert.x never run: report first, then close the node.
            .onComplete(ar -> node.close().onComplete(closed -> {
              if (ar.failed()) {
                ctx.failNow(ar.cause());
              } else {
                ctx.completeNow();
              }
            }));
      });
    }).onFailure(ctx::failNow);
  }

  /** A degradation keeps the process ready (200) but says DEGRADED, with what is wrong. */
  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aDegradationIsReportedAsDegradedWhileStillReady(VertxTestContext ctx) {
    String[] wrong = {"checkpoints failing: 7 versions behind"};
    Readiness readiness = new Readiness().require("model").degradation("checkpoints", () -> wrong[0]);
    readiness.set("model", true);
    Nodes.start(NodeConfig.local()).compose(node -> OpsServer.start(node, "127.0.0.1", 0, readiness)
        .compose(ops -> {
          HttpClient client = node.vertx().createHttpClient();
          return get(client, ops.port(), "/health/ready")
              .compose(degraded -> {
                ctx.verify(() -> {
                  assertThat(degraded.status()).isEqualTo(200);
                  JsonObject json = new JsonObject(degraded.body());
                  assertThat(json.getString("status")).isEqualTo("DEGRADED");
                  assertThat(json.getJsonObject("checks").getString("checkpoints")).isEqualTo("DEGRADED");
                  assertThat(json.getJsonObject("checks").getString("model")).isEqualTo("UP");
                  assertThat(json.getJsonObject("details").getString("checkpoints")).isEqualTo(wrong[0]);
                });
                wrong[0] = null;
                return get(client, ops.port(), "/health/ready");
              })
              .compose(well -> {
                ctx.verify(() -> {
                  JsonObject json = new JsonObject(well.body());
                  assertThat(json.getString("status")).isEqualTo("UP");
                  assertThat(json.containsKey("details")).isFalse();
                  assertThat(json.getJsonObject("checks").containsKey("checkpoints")).isFalse();
                });
                return ops.close();
              })
              .onComplete(ar -> node.close().onComplete(closed -> {
                if (ar.failed()) {
                  ctx.failNow(ar.cause());
                } else {
                  ctx.completeNow();
                }
              }));
        })).onFailure(ctx::failNow);
  }

  @Test
  void readinessNeedsAtLeastOneConditionAndAllOfThem() {
    Readiness r = new Readiness();
    assertThat(r.isReady()).isFalse();
    r.require("a");
    assertThat(r.isReady()).isFalse();
    r.set("a", true);
    assertThat(r.isReady()).isTrue();
    r.require("a");
    assertThat(r.isReady()).as("require keeps a met condition").isTrue();
    r.set("b", false);
    assertThat(r.isReady()).isFalse();
    assertThat(r.snapshot()).containsExactly(java.util.Map.entry("a", true), java.util.Map.entry("b", false));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aBusyPortFailsTheStartNamingTheFlagHostAndPort(VertxTestContext ctx) throws Exception {
    java.net.ServerSocket busy = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"));
    int port = busy.getLocalPort();
    Nodes.start(NodeConfig.local()).compose(node -> {
      Future<String> ops = OpsServer.start(node, "127.0.0.1", port, new Readiness())
          .transform(ar -> Future.succeededFuture(ar.failed() ? ar.cause().getMessage() : "started"));
      Future<String> grpc = dev.batchrpc.runtime.grpc.GrpcServices.listen(node.vertx(),
              new dev.batchrpc.proto.v1.ParameterServerGrpcService() { }, 1 << 20, "127.0.0.1", port)
          .transform(ar -> Future.succeededFuture(ar.failed() ? ar.cause().getMessage() : "started"));
      return Future.all(ops, grpc).eventually(() -> node.close());
    }).onComplete(ctx.succeeding(all -> ctx.verify(() -> {
      busy.close();
      assertThat((String) all.resultAt(0))
          .isEqualTo("cannot listen on metrics port 127.0.0.1:" + port + " (--metrics-port): address in use");
      assertThat((String) all.resultAt(1))
          .isEqualTo("cannot listen on gRPC port 127.0.0.1:" + port + " (--grpc-port): address in use");
      ctx.completeNow();
    })));
  }
}
