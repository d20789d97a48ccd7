package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.cli.OpsOptions;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;

/**
 * docker-compose.yml, without a Docker engine: parsed (SnakeYAML, merge keys and compose's
 * {@code ${VAR:-default}} interpolation resolved as compose resolves them) and checked against the
 * commands' picocli model; then the services' own commands and environments run as local processes
 * that cluster on loopback and complete rounds.
 */
class ComposeFileTest {

  private static final Set<String> SERVICES = Set.of("ps", "trainer", "agent", "observer");
  private static final Pattern VAR = Pattern.compile("\\$\\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?}");

  private static Map<String, Object> compose;
  private static Map<String, Object> services;
  private final List<ChildJvm> processes = new ArrayList<>();
  @TempDir
  Path tmp;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void load() throws IOException {
    compose = new Yaml().load(Files.readString(Deploy.root().resolve("docker-compose.yml")));
    services = (Map<String, Object>) compose.get("services");
  }

  @AfterEach
  void stop() throws InterruptedException {
    for (ChildJvm p : processes) {
      p.close();
    }
  }

  // ---- the file -------------------------------------------------------------------------------

  @Test
  void everyServiceRunsARealSubcommandWithRealSettings() {
    assertThat(services.keySet()).containsAll(SERVICES).contains("prometheus", "grafana");
    for (String name : SERVICES) {
      List<String> command = command(name);
      CommandLine sub = Main.commandLine().getSubcommands().get(command.get(0));
      assertThat(sub).as("%s: '%s' is a batch-rpc subcommand", name, command.get(0)).isNotNull();
      Map<String, ConfigDocs.Setting> known = ConfigDocs.envSettings(sub.getCommandSpec());
      List<String> asFlags = new ArrayList<>(command);
      for (Map.Entry<String, String> e : env(name, Map.of()).entrySet()) {
        assertThat(known).as("%s: %s is an option of 'batch-rpc %s'", name, e.getKey(), command.get(0))
            .containsKey(e.getKey());
        asFlags.add(known.get(e.getKey()).flag() + "=" + e.getValue());
      }
      // Each value converts to its option's type (picocli parses the same values from the variables).
      Main.commandLine().parseArgs(asFlags.toArray(String[]::new));
      assertThat(interpolate(String.valueOf(((Map<?, ?>) services.get(name)).get("image")), Map.of()))
          .isEqualTo("batch-rpc:latest");
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void healthChecksScrapeTargetsAndImageAgreeWithTheMetricsPort() throws IOException {
    int port = OpsOptions.DEFAULT_METRICS_PORT;
    for (String name : SERVICES) {
      Map<String, String> env = env(name, Map.of());
      assertThat(env).containsEntry("BATCHRPC_METRICS_PORT", String.valueOf(port))
          .containsEntry("BATCHRPC_OPS_HOST", "0.0.0.0").containsEntry("BATCHRPC_CLUSTERED", "true");
      Map<String, Object> health = (Map<String, Object>) ((Map<String, Object>) services.get(name)).get("healthcheck");
      // one string (CMD-SHELL): podman-compose 1.0.3 breaks a list's second replica (docker-compose.yml)
      assertThat(health.get("test")).isInstanceOf(String.class);
      assertThat((String) health.get("test")).contains("http://127.0.0.1:" + port + "/health/ready");
    }
    String dockerfile = Files.readString(Deploy.root().resolve("deploy/docker/Dockerfile"));
    assertThat(dockerfile).contains("BATCHRPC_METRICS_PORT=" + port).contains("BATCHRPC_OPS_HOST=0.0.0.0")
        .contains("EXPOSE " + port);
    // The shipped Prometheus config scrapes each service by its compose DNS name on that port.
    Map<String, Object> prom = new Yaml().load(Files.readString(Deploy.root().resolve("deploy/prometheus/prometheus.yml")));
    Set<String> scraped = new HashSet<>();
    for (Map<String, Object> job : (List<Map<String, Object>>) prom.get("scrape_configs")) {
      for (Map<String, Object> sd : (List<Map<String, Object>>) job.get("dns_sd_configs")) {
        assertThat(sd.get("port")).isEqualTo(port);
        scraped.addAll((List<String>) sd.get("names"));
      }
    }
    assertThat(scraped).isEqualTo(SERVICES);
  }

  @Test
  @SuppressWarnings("unchecked")
  void replicasEqualWhatTheServerAndTheAgentWaitFor() {
    for (Map<String, String> vars : List.of(Map.<String, String>of(), Map.of("TRAINERS", "8", "OBSERVERS", "16"))) {
      Object trainers = ((Map<String, Object>) ((Map<String, Object>) services.get("trainer")).get("deploy")).get("replicas");
      Object observers = ((Map<String, Object>) ((Map<String, Object>) services.get("observer")).get("deploy")).get("replicas");
      assertThat(interpolate(String.valueOf(trainers), vars)).isEqualTo(env("ps", vars).get("BATCHRPC_TRAINERS"));
      assertThat(interpolate(String.valueOf(observers), vars)).isEqualTo(env("agent", vars).get("BATCHRPC_OBSERVERS"));
    }
    assertThat(env("ps", Map.of())).containsEntry("BATCHRPC_TRAINERS", "5");
    assertThat(env("agent", Map.of())).containsEntry("BATCHRPC_OBSERVERS", "4");
    assertThat(env("observer", Map.of()).get("BATCHRPC_SEED")).isEqualTo(env("agent", Map.of()).get("BATCHRPC_SEED"));
  }

  @Test
  @SuppressWarnings("unchecked")
  void theServersCheckpointsLiveOnANamedVolume() {
    String dir = env("ps", Map.of()).get("BATCHRPC_CHECKPOINT_DIR");
    assertThat(dir).as("ps checkpoints (BATCHRPC_CHECKPOINT_DIR)").isNotBlank();
    List<String> mounts = (List<String>) ((Map<String, Object>) services.get("ps")).get("volumes");
    String volume = mounts.stream().filter(m -> m.endsWith(":" + dir)).map(m -> m.substring(0, m.indexOf(':')))
        .findFirst().orElseThrow(() -> new AssertionError("no volume mounted at " + dir + ": " + mounts));
    // a named volume (declared at the top level), not a path: it outlives the container
    assertThat(volume).doesNotContain("/");
    assertThat((Map<String, Object>) compose.get("volumes")).containsKey(volume);
  }

  // ---- the services, as local processes ---------------------------------------------------------

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void psAndTwoTrainersCompleteRounds() throws Exception {
    Map<String, String> vars = Map.of("TRAINERS", "2", "BATCHES", "5", "DEVICE", "cpu");
    Local local = new Local();
    ChildJvm ps = local.start("ps", vars, true);
    assertThat(ps.awaitLine(l -> l.startsWith("ps: serving"), 40_000)).as(ps.output()).isNotNull();
    int psOps = ps.awaitMetricsPort(1_000);
    ChildJvm t1 = local.start("trainer", vars, false);
    ChildJvm t2 = local.start("trainer", vars, false);
    for (ChildJvm t : List.of(t1, t2)) {
      assertThat(t.awaitExit(60_000)).as(t.output()).isZero();
      assertThat(t.output()).contains("done: 5 rounds");
    }
    // The server is ready (cluster, consumers, model) and counted the rounds.
    assertThat(get(psOps, "/health/ready")).contains("\"status\":\"UP\"").contains("\"model\":\"UP\"");
    assertThat(get(psOps, "/metrics")).contains("ps_rounds_total{outcome=\"complete\",round=\"update\"} 5.0");
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void agentAndTwoObserversCompleteEpisodes() throws Exception {
    Map<String, String> vars = Map.of("OBSERVERS", "2", "EPISODES", "2", "STEPS", "20", "DEVICE", "cpu");
    Local local = new Local();
    ChildJvm agent = local.start("agent", vars, true);
    assertThat(agent.awaitLine(l -> l.contains("waiting for 2 observer"), 40_000)).as(agent.output()).isNotNull();
    ChildJvm o1 = local.start("observer", vars, false);
    ChildJvm o2 = local.start("observer", vars, false);
    assertThat(agent.awaitExit(60_000)).as("%s%n%s%n%s", agent.output(), o1.output(), o2.output()).isZero();
    assertThat(agent.output()).contains("episode   2").contains("done: 2 episode(s)");
    // BATCHRPC_INDEX=-1: the replicas claimed indexes 0 and 1 from the cluster.
    assertThat(o1.output() + o2.output()).contains("observer observer-0 ready").contains("observer observer-1 ready");
  }

  /**
   * Runs compose services on this machine, changing only what a host needs: host names become
   * 127.0.0.1 (the first node started takes the seed's place of the 'ps' DNS name, on a free
   * Hazelcast port), the cluster name becomes a random one, ports that several local processes
   * would share (metrics, gRPC) become "any free port", and the checkpoint volume a temporary
   * directory.
   */
  private final class Local {
    private final String cluster = LoopbackNodes.clusterName("compose");
    private int seedPort = -1;

    ChildJvm start(String service, Map<String, String> vars, boolean seed) throws IOException {
      Map<String, String> env = new LinkedHashMap<>(env(service, vars));
      env.put("BATCHRPC_CLUSTER_NAME", cluster);
      env.put("BATCHRPC_CLUSTER_HOST", "127.0.0.1");
      env.replaceAll((k, v) -> v.equals("0.0.0.0") ? "127.0.0.1" : v);
      env.put("BATCHRPC_METRICS_PORT", "0");
      if (env.containsKey("BATCHRPC_GRPC_PORT")) {
        env.put("BATCHRPC_GRPC_PORT", "0");
      }
      if (env.containsKey("BATCHRPC_CHECKPOINT_DIR")) {
        // the container's volume path is not this machine's
        env.put("BATCHRPC_CHECKPOINT_DIR", tmp.resolve(service + "-checkpoints").toString());
      }
      if (seed) {
        seedPort = Ports.freePort();
        env.put("BATCHRPC_CLUSTER_PORT", String.valueOf(seedPort));
      }
      // every node seeds from the ps service; the ps also from the others (a restarted ps container
      // finds the running cluster): all of them compose service names
      // each with Hazelcast's port: a seed without one is probed on 5701-5703, where the event bus
      // (5702) and the data channel (5703) listen
      List<String> members = new java.util.ArrayList<>();
      for (String m : env.get("BATCHRPC_CLUSTER_MEMBERS").split(",")) {
        assertThat(m).as("seed %s names Hazelcast's port", m).endsWith(":5701");
        members.add(m.substring(0, m.length() - ":5701".length()));
      }
      assertThat(members.get(0)).isEqualTo("ps");
      assertThat(services.keySet()).containsAll(members);
      env.put("BATCHRPC_CLUSTER_MEMBERS", "127.0.0.1:" + seedPort);
      ChildJvm p = SuiteProcess.start(service + "-" + processes.size(), command(service), env);
      processes.add(p);
      return p;
    }
  }

  // ---- compose's model ----------------------------------------------------------------------------

  @SuppressWarnings("unchecked")
  private static List<String> command(String service) {
    Object c = ((Map<String, Object>) services.get(service)).get("command");
    return c instanceof List<?> l ? (List<String>) l : List.of(String.valueOf(c).split("\\s+"));
  }

  /** The service's BATCHRPC_* environment, interpolated with {@code vars} (else compose's defaults). */
  @SuppressWarnings("unchecked")
  private static Map<String, String> env(String service, Map<String, String> vars) {
    Map<String, Object> raw = (Map<String, Object>) ((Map<String, Object>) services.get(service)).get("environment");
    Map<String, String> out = new LinkedHashMap<>();
    raw.forEach((k, v) -> {
      if (k.startsWith("BATCHRPC_")) {
        out.put(k, interpolate(String.valueOf(v), vars));
      }
    });
    return out;
  }

  private static String interpolate(String value, Map<String, String> vars) {
    Matcher m = VAR.matcher(value);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      String v = vars.getOrDefault(m.group(1), m.group(2) == null ? "" : m.group(2));
      m.appendReplacement(sb, Matcher.quoteReplacement(v));
    }
    m.appendTail(sb);
    return sb.toString();
  }

  private static String get(int port, String path) throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
    return r.statusCode() + " " + r.body();
  }
}
