package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.runtime.net.TlsConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * docker-compose.tls.yml, the TLS override of docker-compose.yml: TLS is off in the base file; the
 * override points every node's --tls-* variables at a read-only volume that its 'certs' service
 * fills, and that service's command, run here as written (its volumes as temporary directories),
 * writes exactly those files, which the nodes accept, and no CA key among them.
 */
class ComposeTlsFileTest {

  private static final List<String> NODES = List.of("ps", "trainer", "agent", "observer");

  @SuppressWarnings("unchecked")
  private static Map<String, Object> services(String file) throws Exception {
    Map<String, Object> compose = new Yaml().load(Files.readString(Deploy.root().resolve(file)));
    return (Map<String, Object>) compose.get("services");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, String> environment(Map<String, Object> service) {
    Map<String, String> out = new LinkedHashMap<>();
    Object env = service.get("environment");
    if (env != null) {
      ((Map<String, Object>) env).forEach((k, v) -> out.put(k, String.valueOf(v)));
    }
    return out;
  }

  @Test
  @SuppressWarnings("unchecked")
  void theOverrideGivesEveryNodeTheFilesItsCertsServiceWrites(@TempDir Path tmp) throws Exception {
    Map<String, Object> base = services("docker-compose.yml");
    for (String node : NODES) {
      assertThat(environment((Map<String, Object>) base.get(node)).keySet())
          .as("%s: TLS is off in docker-compose.yml", node).noneMatch(k -> k.startsWith("BATCHRPC_TLS_"));
    }

    Map<String, Object> tls = services("docker-compose.tls.yml");
    assertThat(tls.keySet()).containsExactlyInAnyOrder("certs", "ps", "trainer", "agent", "observer");
    Map<String, String> tlsEnv = null;
    for (String node : NODES) {
      Map<String, Object> s = (Map<String, Object>) tls.get(node);
      Map<String, String> env = environment(s);
      Map<String, ConfigDocs.Setting> known =
          ConfigDocs.envSettings(Main.commandLine().getSubcommands().get(node).getCommandSpec());
      assertThat(known).as(node).containsKeys(env.keySet().toArray(String[]::new));
      assertThat(env).containsOnlyKeys("BATCHRPC_TLS_CERT", "BATCHRPC_TLS_KEY", "BATCHRPC_TLS_CA");
      assertThat((List<String>) s.get("volumes")).as(node).containsExactly("certs:/certs:ro");
      assertThat(env.values()).as(node).allMatch(p -> p.startsWith("/certs/"));
      Map<String, Object> certs = (Map<String, Object>) ((Map<String, Object>) s.get("depends_on")).get("certs");
      assertThat(certs).as(node).containsEntry("condition", "service_completed_successfully");
      tlsEnv = env;
    }

    // The certs service, run as written with its two volumes as directories here.
    Map<String, Object> certs = (Map<String, Object>) tls.get("certs");
    assertThat((List<String>) certs.get("volumes")).containsExactlyInAnyOrder("ca:/ca", "certs:/certs");
    Path ca = tmp.resolve("ca");
    Path out = tmp.resolve("certs");
    List<String> args = new ArrayList<>();
    for (String a : (List<String>) certs.get("command")) {
      args.add(a.equals("/ca") ? ca.toString() : a.equals("/certs") ? out.toString() : a);
    }
    assertThat(args.get(0)).isEqualTo("certs");
    assertThat(Main.commandLine().setOut(new PrintWriter(new StringWriter()))
        .execute(args.toArray(String[]::new))).isZero();
    try (Stream<Path> files = Files.list(out)) {
      assertThat(files.map(p -> "/certs/" + p.getFileName())).as("no CA key on the nodes' volume")
          .containsExactlyInAnyOrderElementsOf(tlsEnv.values());
    }
    Map<String, String> env = tlsEnv;
    TlsConfig config = TlsConfig.of(local(env.get("BATCHRPC_TLS_CERT"), out), local(env.get("BATCHRPC_TLS_KEY"), out),
        local(env.get("BATCHRPC_TLS_CA"), out), "required");
    assertThat(config).as("the nodes accept the files").isNotNull();

    // The image makes the volumes' mount points its user's, so the service can write them.
    assertThat(Files.readString(Deploy.root().resolve("deploy/docker/Dockerfile")))
        .containsPattern("mkdir -p [^&]*/ca /certs").contains("chown 10001 /ca /certs");
  }

  private static String local(String containerPath, Path certs) {
    return certs.resolve(containerPath.substring("/certs/".length())).toString();
  }
}
