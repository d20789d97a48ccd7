package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.process.ChildJvm;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Prometheus server (Debian's {@code prometheus} package, installed by {@code .ci/run})
 * scrapes a running suite ({@code batch-rpc demo} as a child process) on loopback, and its query
 * API returns the round meters; {@code promtool} accepts the shipped scrape configuration.
 */
class PrometheusIntegrationTest {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  private final List<AutoCloseable> started = new ArrayList<>();

  @TempDir
  Path tmp;

  @AfterEach
  void stopAll() throws Exception {
    for (AutoCloseable c : started) {
      c.close();
    }
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void prometheusScrapesTheRoundMetersOfARunningSuite() throws Exception {
    String prometheus = onPath("prometheus");
    assumeTrue(prometheus != null, "no 'prometheus' binary on PATH (Debian: apt-get install -y prometheus; "
        + ".ci/run installs it)");

    // The suite: a tiny demo that keeps serving its metrics afterwards.
    ChildJvm demo = SuiteProcess.start("demo", List.of("demo", "--device", "cpu", "--metrics-port", "0",
        "--trainers", "2", "--rounds", "5", "--layers", "8,4,2", "--batch-size", "4",
        "--observers", "2", "--episodes", "2", "--steps", "10", "--linger-s", "120"), Map.of());
    started.add(demo);
    int metricsPort = demo.awaitMetricsPort(30_000);

    int webPort = Ports.freePort();
    Path config = tmp.resolve("prometheus.yml");
    Files.writeString(config, String.join("\n",
        "global:",
        "  scrape_interval: 1s",
        "scrape_configs:",
        "  - job_name: batch-rpc",
        "    static_configs:",
        "      - targets: ['127.0.0.1:" + metricsPort + "']",
        ""));
    Process server = new ProcessBuilder(prometheus, "--config.file=" + config,
        "--storage.tsdb.path=" + tmp.resolve("data"), "--web.listen-address=127.0.0.1:" + webPort)
        .redirectErrorStream(true).redirectOutput(tmp.resolve("prometheus.log").toFile()).start();
    started.add(() -> {
      server.destroy();
      if (!server.waitFor(5, TimeUnit.SECONDS)) {
        server.destroyForcibly();
      }
    });

    // Bounded poll: Prometheus starts, scrapes every second; the demo's rounds are done by then.
    String query = "ps_rounds_total{outcome=\"complete\"}";
    JsonArray result = new JsonArray();
    long deadline = System.currentTimeMillis() + 60_000;
    while (System.currentTimeMillis() < deadline) {
      result = query(webPort, query);
      if (!result.isEmpty() && value(result) >= 5) {
        break;
      }
      Thread.sleep(500);
    }
    assertThat(result).as("Prometheus query %s; log:%n%s%n%s", query,
        readQuietly(tmp.resolve("prometheus.log")), demo.output()).isNotEmpty();
    assertThat(value(result)).isEqualTo(5.0);
    JsonObject metric = result.getJsonObject(0).getJsonObject("metric");
    assertThat(metric.getString("job")).isEqualTo("batch-rpc");
    assertThat(metric.getString("round")).isEqualTo("update");
    System.out.println("Prometheus: " + query + " -> " + result.encode());

    // The other meters the issue lists, through the same query API.
    for (String q : List.of("agent_rounds_total{outcome=\"complete\"}", "agent_round_wait_seconds_count",
        "ps_round_compute_seconds_count", "ps_model_version", "ps_updates_applied_total",
        "agent_actions_served_total", "agent_running_reward", "compute_backend{backend=\"cpu\"}",
        "vertx_eventbus_processed_total")) {
      JsonArray r = query(webPort, q);
      assertThat(r).as(q).isNotEmpty();
      System.out.println("Prometheus: " + q + " -> " + r.encode());
    }

    // Every series the shipped Grafana dashboard queries is one the services publish.
    String scrape = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + "/metrics"))
        .build(), HttpResponse.BodyHandlers.ofString()).body();
    JsonObject dashboard = new JsonObject(Files.readString(Deploy.root().resolve("deploy/grafana/dashboards/batch-rpc.json")));
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\b(?:ps|agent|compute|vertx)_[a-z_]+\\b")
        .matcher(dashboard.encode());
    int checked = 0;
    while (m.find()) {
      assertThat(scrape).as("dashboard series %s", m.group()).contains("\n" + m.group());
      checked++;
    }
    assertThat(checked).isGreaterThan(10);
  }

  @Test
  void promtoolAcceptsTheShippedScrapeConfiguration() throws Exception {
    String promtool = onPath("promtool");
    assumeTrue(promtool != null, "no 'promtool' binary on PATH (Debian: apt-get install -y prometheus)");
    Path shipped = Deploy.root().resolve("deploy/prometheus/prometheus.yml");
    Process p = new ProcessBuilder(promtool, "check", "config", shipped.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).contains("SUCCESS");
  }

  private static JsonArray query(int port, String promql) throws IOException, InterruptedException {
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/query?query="
        + URLEncoder.encode(promql, StandardCharsets.UTF_8))).timeout(Duration.ofSeconds(5)).build();
    try {
      HttpResponse<String> resp = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
      if (resp.statusCode() != 200) {
        return new JsonArray();
      }
      return new JsonObject(resp.body()).getJsonObject("data").getJsonArray("result");
    } catch (java.net.ConnectException notYet) {
      return new JsonArray();
    }
  }

  private static double value(JsonArray result) {
    return Double.parseDouble(result.getJsonObject(0).getJsonArray("value").getString(1));
  }

  static String onPath(String binary) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      File f = new File(dir, binary);
      if (f.canExecute()) {
        return f.getPath();
      }
    }
    return null;
  }

  private static String readQuietly(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return "(no log)";
    }
  }
}
