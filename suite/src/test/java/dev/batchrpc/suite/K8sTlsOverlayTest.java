package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;

/**
 * deploy/k8s-tls, the TLS overlay of deploy/k8s: its patches, applied here to the base's resources
 * as kustomize applies them (a strategic merge of the shared ConfigMap, JSON-patch "add"s on every
 * StatefulSet and Job), give every container the Secret at one path, readable by the image's user
 * through the pod's group, and --tls-* variables that name files of that Secret and parse.
 */
class K8sTlsOverlayTest {

  private static final Path K8S = Deploy.root().resolve("deploy/k8s");
  /** A sibling of the base: kustomize refuses an overlay inside its base ("cycle detected"). */
  private static final Path TLS = Deploy.root().resolve("deploy/k8s-tls");
  /** The Secret's keys the docs' kubectl command (and cert-manager) writes. */
  private static final List<String> SECRET_KEYS = List.of("tls.crt", "tls.key", "ca.crt");

  @Test
  @SuppressWarnings("unchecked")
  void everyWorkloadMountsTheSecretAndItsFlagsNameItsFiles() throws Exception {
    Map<String, Object> overlay = new Yaml().load(Files.readString(TLS.resolve("kustomization.yaml")));
    assertThat((List<String>) overlay.get("resources")).containsExactly("../k8s");
    Map<String, Object> base = new Yaml().load(Files.readString(K8S.resolve("kustomization.yaml")));

    // The base's documents, patched.
    Map<String, String> tlsData = null;
    List<Map<String, Object>> workloads = new ArrayList<>();
    Map<String, Object> configMap = null;
    for (String file : (List<String>) base.get("resources")) {
      for (Object doc : new Yaml().loadAll(Files.readString(K8S.resolve(file)))) {
        if (doc instanceof Map<?, ?> m) {
          Map<String, Object> r = (Map<String, Object>) m;
          String kind = (String) r.get("kind");
          if (kind.equals("StatefulSet") || kind.equals("Job")) {
            workloads.add(r);
          } else if (kind.equals("ConfigMap")) {
            configMap = r;
          }
        }
      }
    }
    assertThat(workloads).hasSize(4);
    for (Map<String, Object> patch : (List<Map<String, Object>>) overlay.get("patches")) {
      Object content = new Yaml().load(Files.readString(TLS.resolve((String) patch.get("path"))));
      Map<String, Object> target = (Map<String, Object>) patch.get("target");
      if (target == null) {
        // A strategic merge patch of the shared settings.
        Map<String, Object> cm = (Map<String, Object>) content;
        assertThat(cm.get("kind")).isEqualTo("ConfigMap");
        assertThat(((Map<String, Object>) cm.get("metadata")).get("name"))
            .isEqualTo(((Map<String, Object>) configMap.get("metadata")).get("name"));
        tlsData = (Map<String, String>) cm.get("data");
        ((Map<String, Object>) configMap.get("data")).putAll(tlsData);
      } else {
        for (Map<String, Object> w : workloads) {
          if (w.get("kind").equals(target.get("kind"))
              && ((String) w.get("apiVersion")).startsWith(target.get("group") + "/")) {
            for (Map<String, Object> op : (List<Map<String, Object>>) content) {
              add(w, (String) op.get("path"), op.get("value"));
            }
          }
        }
      }
    }
    assertThat(tlsData).containsOnlyKeys("BATCHRPC_TLS_CERT", "BATCHRPC_TLS_KEY", "BATCHRPC_TLS_CA");

    ObjectMapper mapper = new ObjectMapper();
    ConfigMap shared = (ConfigMap) mapper.readValue(new JsonObject(configMap).encode(), KubernetesResource.class);
    for (Map<String, Object> raw : workloads) {
      KubernetesResource r = mapper.readValue(new JsonObject(raw).encode(), KubernetesResource.class);
      PodSpec pod = r instanceof StatefulSet s ? s.getSpec().getTemplate().getSpec()
          : ((Job) r).getSpec().getTemplate().getSpec();
      String name = raw.get("kind") + " " + ((Map<String, Object>) raw.get("metadata")).get("name");
      // Secret files are root's: the image's user (the Dockerfile's 10001) reads them as the group.
      assertThat(pod.getSecurityContext().getFsGroup()).as(name).isEqualTo(10001L);
      Volume volume = pod.getVolumes().stream().filter(v -> v.getSecret() != null).findFirst().orElseThrow();
      assertThat(volume.getSecret().getSecretName()).isEqualTo("batch-rpc-tls");
      assertThat(volume.getSecret().getDefaultMode()).as("0440").isEqualTo(0440);
      Container c = pod.getContainers().get(0);
      VolumeMount mount = c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume.getName()))
          .findFirst().orElseThrow();
      assertThat(mount.getReadOnly()).isTrue();
      // The overlay adds to the base's mounts and never replaces them (the ps keeps its checkpoints).
      assertThat(c.getVolumeMounts()).extracting(VolumeMount::getName).as(name).contains("tmp", "tls");
      if (raw.get("kind").equals("StatefulSet") && name.endsWith(" ps")) {
        assertThat(c.getVolumeMounts()).extracting(VolumeMount::getName).as(name).contains("ps-checkpoints");
      }
      for (String path : tlsData.values()) {
        assertThat(path).as(name).startsWith(mount.getMountPath() + "/");
        assertThat(SECRET_KEYS).as(name).contains(path.substring(mount.getMountPath().length() + 1));
      }
      // The variables are the command's and parse (the files themselves come with the Secret).
      String command = c.getArgs().get(0);
      CommandLine sub = Main.commandLine().getSubcommands().get(command);
      Map<String, ConfigDocs.Setting> known = ConfigDocs.envSettings(sub.getCommandSpec());
      List<String> flags = new ArrayList<>(List.of(command));
      for (Map.Entry<String, String> e : shared.getData().entrySet()) {
        if (e.getKey().startsWith("BATCHRPC_TLS_")) {
          assertThat(known).as(name).containsKey(e.getKey());
          flags.add(known.get(e.getKey()).flag() + "=" + e.getValue());
        }
      }
      Main.commandLine().parseArgs(flags.toArray(String[]::new));
    }
  }

  /**
   * A JSON-patch "add" as kustomize applies it: of an object member (the parent must exist, and
   * the member must not: an add there would replace what the base has), or of an array element
   * with "-" (appended to an array the base has).
   */
  @SuppressWarnings("unchecked")
  private static void add(Map<String, Object> doc, String pointer, Object value) {
    String[] parts = pointer.substring(1).split("/");
    Object at = doc;
    for (int i = 0; i < parts.length - 1; i++) {
      at = at instanceof List<?> l ? l.get(Integer.parseInt(parts[i])) : ((Map<String, Object>) at).get(parts[i]);
      assertThat(at).as("%s exists in the base", pointer).isNotNull();
    }
    String last = parts[parts.length - 1];
    if (last.equals("-")) {
      // Append to an array, which must exist in the base.
      assertThat(at).as("%s: an array in the base", pointer).isInstanceOf(List.class);
      ((List<Object>) at).add(value instanceof Map<?, ?> m ? new LinkedHashMap<>((Map<String, Object>) m) : value);
      return;
    }
    Map<String, Object> parent = (Map<String, Object>) at;
    assertThat(parent).as("the base has no %s to replace", pointer).doesNotContainKey(last);
    parent.put(last, value instanceof Map<?, ?> m ? new LinkedHashMap<>((Map<String, Object>) m) : value);
  }
}
