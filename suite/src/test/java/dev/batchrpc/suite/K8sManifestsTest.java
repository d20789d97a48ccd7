package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchrpc.runtime.cli.OpsOptions;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;

/**
 * deploy/k8s, parsed into fabric8's typed Kubernetes model (every resource the kustomization
 * lists), checked against the services' configuration: commands, variable names, ports, probe
 * paths, scrape annotations, cluster discovery and the sizes the rounds wait for.
 */
class K8sManifestsTest {

  private static final Path K8S = Deploy.root().resolve("deploy/k8s");
  private static final List<HasMetadata> RESOURCES = new ArrayList<>();
  private static Map<String, Object> kustomization;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void parse() throws IOException {
    RESOURCES.clear();
    kustomization = new Yaml().load(Files.readString(K8S.resolve("kustomization.yaml")));
    ObjectMapper mapper = new ObjectMapper();
    for (String file : (List<String>) kustomization.get("resources")) {
      for (Object doc : new Yaml().loadAll(Files.readString(K8S.resolve(file)))) {
        if (doc == null) {
          continue;
        }
        String json = new JsonObject((Map<String, Object>) doc).encode();
        KubernetesResource r = mapper.readValue(json, KubernetesResource.class);
        assertThat(r).as("%s parses into a typed resource", file).isInstanceOf(HasMetadata.class);
        RESOURCES.add((HasMetadata) r);
      }
    }
  }

  /**
   * No field the typed model does not know: fabric8 keeps an unknown field (a typo such as
   * {@code portz}, a field at the wrong level) in {@code additionalProperties} instead of failing,
   * where the API server would refuse it (scripts/k8s-validate.sh checks types, enums and required
   * fields against the API's schemas).
   */
  @Test
  void noFieldIsUnknownToTheKubernetesModel() throws Exception {
    List<String> unknown = new ArrayList<>();
    for (HasMetadata r : RESOURCES) {
      unknownFields(r, r.getKind() + " " + r.getMetadata().getName(), unknown);
    }
    assertThat(unknown).as("fields unknown to the Kubernetes model").isEmpty();
    // the walk does find one
    KubernetesResource typo = new ObjectMapper().readValue("{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
        + "\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"portz\":[]}]}}",
        KubernetesResource.class);
    List<String> found = new ArrayList<>();
    unknownFields(typo, "Pod p", found);
    assertThat(found).containsExactly("Pod p.Spec.Containers[0]: [portz]");
  }

  private static void unknownFields(Object o, String path, List<String> out) throws Exception {
    if (o instanceof List<?> list) {
      for (int i = 0; i < list.size(); i++) {
        unknownFields(list.get(i), path + "[" + i + "]", out);
      }
    } else if (o instanceof Map<?, ?> map) {
      for (Map.Entry<?, ?> e : map.entrySet()) {
        unknownFields(e.getValue(), path + "." + e.getKey(), out);
      }
    } else if (o != null && o.getClass().getPackageName().startsWith("io.fabric8.kubernetes.api.model")) {
      for (Method getter : o.getClass().getMethods()) {
        if (getter.getParameterCount() != 0 || !getter.getName().startsWith("get")
            || getter.getDeclaringClass() == Object.class) {
          continue;
        }
        Object value = getter.invoke(o);
        if (getter.getName().equals("getAdditionalProperties")) {
          if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
            out.add(path + ": " + extra.keySet());
          }
        } else {
          unknownFields(value, path + "." + getter.getName().substring(3), out);
        }
      }
    }
  }

  @Test
  void kustomizationListsANamespaceTheSharedSettingsTheDiscoveryServiceAndAWorkloadPerService() {
    assertThat(kustomization.get("namespace")).isEqualTo("batch-rpc");
    assertThat(one(Namespace.class, "batch-rpc")).isNotNull();
    assertThat(one(StatefulSet.class, "ps").getSpec().getReplicas()).isEqualTo(1);
    assertThat(one(Job.class, "trainer")).isNotNull();
    assertThat(one(Job.class, "agent")).isNotNull();
    assertThat(one(StatefulSet.class, "observer")).isNotNull();
    assertThat(one(Service.class, "ps").getSpec().getPorts()).extracting(p -> p.getPort()).contains(50051, 9400);
  }

  @Test
  void everyContainerRunsARealCommandWithRealVariablesAndAdvertisesThePodIp() {
    for (Map.Entry<String, PodTemplateSpec> w : workloads().entrySet()) {
      Container c = container(w.getValue());
      CommandLine sub = Main.commandLine().getSubcommands().get(c.getArgs().get(0));
      assertThat(sub).as("%s runs a batch-rpc subcommand", w.getKey()).isNotNull();
      Map<String, ConfigDocs.Setting> known = ConfigDocs.envSettings(sub.getCommandSpec());
      List<String> flags = new ArrayList<>(c.getArgs());
      for (Map.Entry<String, String> e : env(c).entrySet()) {
        assertThat(known).as("%s: %s is an option of 'batch-rpc %s'", w.getKey(), e.getKey(), c.getArgs().get(0))
            .containsKey(e.getKey());
        if (e.getValue() != null) {
          flags.add(known.get(e.getKey()).flag() + "=" + e.getValue());
        }
      }
      Main.commandLine().parseArgs(flags.toArray(String[]::new));
      EnvVar host = c.getEnv().stream().filter(v -> v.getName().equals("BATCHRPC_CLUSTER_HOST")).findFirst().orElseThrow();
      assertThat(host.getValueFrom().getFieldRef().getFieldPath()).as(w.getKey()).isEqualTo("status.podIP");
    }
  }

  @Test
  void portsProbesResourcesAndScrapeAnnotationsAgreeWithTheSettings() {
    Map<String, String> shared = one(ConfigMap.class, "batch-rpc-node").getData();
    String metricsPort = shared.get("BATCHRPC_METRICS_PORT");
    assertThat(metricsPort).isEqualTo(String.valueOf(OpsOptions.DEFAULT_METRICS_PORT));
    assertThat(shared).containsEntry("BATCHRPC_OPS_HOST", "0.0.0.0").containsEntry("BATCHRPC_CLUSTERED", "true");
    for (Map.Entry<String, PodTemplateSpec> w : workloads().entrySet()) {
      Container c = container(w.getValue());
      Map<String, Integer> ports = new LinkedHashMap<>();
      for (ContainerPort p : c.getPorts()) {
        ports.put(p.getName(), p.getContainerPort());
      }
      assertThat(ports.get("ops")).as(w.getKey()).isEqualTo(Integer.parseInt(metricsPort));
      assertThat(ports.get("hazelcast")).as(w.getKey()).isEqualTo(Integer.parseInt(shared.get("BATCHRPC_CLUSTER_PORT")));
      assertThat(ports.get("event-bus")).as(w.getKey()).isEqualTo(Integer.parseInt(shared.get("BATCHRPC_EVENT_BUS_PORT")));
      String grpc = env(c).get("BATCHRPC_GRPC_PORT");
      if (grpc != null && Integer.parseInt(grpc) > 0) {
        assertThat(ports.get("grpc")).as(w.getKey()).isEqualTo(Integer.parseInt(grpc));
      }
      assertProbe(c.getLivenessProbe(), "/health/live", w.getKey());
      assertProbe(c.getReadinessProbe(), "/health/ready", w.getKey());
      assertThat(c.getResources().getRequests()).as(w.getKey()).containsKeys("cpu", "memory");
      assertThat(c.getResources().getLimits()).as(w.getKey()).containsKeys("cpu", "memory");
      assertThat(w.getValue().getMetadata().getAnnotations()).as(w.getKey())
          .containsEntry("prometheus.io/scrape", "true")
          .containsEntry("prometheus.io/port", metricsPort)
          .containsEntry("prometheus.io/path", "/metrics");
    }
  }

  @Test
  void hazelcastDiscoversEveryPodThroughTheHeadlessServiceAndThePsSeed() {
    Service headless = one(Service.class, "batch-rpc-cluster");
    assertThat(headless.getSpec().getClusterIP()).isEqualTo("None");
    assertThat(headless.getSpec().getPublishNotReadyAddresses()).as("pods are ready only after joining").isTrue();
    Map<String, String> shared = one(ConfigMap.class, "batch-rpc-node").getData();
    assertThat(headless.getSpec().getPorts()).anySatisfy(p -> {
      assertThat(p.getName()).isEqualTo("hazelcast");
      assertThat(p.getPort()).isEqualTo(Integer.parseInt(shared.get("BATCHRPC_CLUSTER_PORT")));
    });
    for (Map.Entry<String, PodTemplateSpec> w : workloads().entrySet()) {
      assertThat(w.getValue().getMetadata().getLabels()).as(w.getKey())
          .containsAllEntriesOf(headless.getSpec().getSelector());
    }
    StatefulSet ps = one(StatefulSet.class, "ps");
    assertThat(ps.getSpec().getServiceName()).isEqualTo("batch-rpc-cluster");
    assertThat(List.of(shared.get("BATCHRPC_CLUSTER_MEMBERS").split(",")))
        .as("seeds with Hazelcast's port (without one it probes 5701-5703: the event bus and data ports)")
        .containsExactly("ps-0.batch-rpc-cluster:" + shared.get("BATCHRPC_CLUSTER_PORT"),
            "batch-rpc-cluster:" + shared.get("BATCHRPC_CLUSTER_PORT"));
  }

  @Test
  void replicasEqualWhatTheServerAndTheAgentWaitForAndIdsAreUnique() {
    Job trainers = one(Job.class, "trainer");
    String perRound = env(container(one(StatefulSet.class, "ps").getSpec().getTemplate())).get("BATCHRPC_TRAINERS");
    assertThat(trainers.getSpec().getParallelism()).isEqualTo(Integer.parseInt(perRound));
    assertThat(trainers.getSpec().getCompletions()).isEqualTo(Integer.parseInt(perRound));
    EnvVar id = container(trainers.getSpec().getTemplate()).getEnv().stream()
        .filter(v -> v.getName().equals("BATCHRPC_ID")).findFirst().orElseThrow();
    assertThat(id.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");

    StatefulSet observers = one(StatefulSet.class, "observer");
    Map<String, String> agentEnv = env(container(one(Job.class, "agent").getSpec().getTemplate()));
    assertThat(observers.getSpec().getReplicas()).isEqualTo(Integer.parseInt(agentEnv.get("BATCHRPC_OBSERVERS")));
    Container observer = container(observers.getSpec().getTemplate());
    assertThat(env(observer).get("BATCHRPC_SEED")).isEqualTo(agentEnv.get("BATCHRPC_SEED"));
    EnvVar index = observer.getEnv().stream().filter(v -> v.getName().equals("BATCHRPC_INDEX")).findFirst().orElseThrow();
    assertThat(index.getValueFrom().getFieldRef().getFieldPath())
        .isEqualTo("metadata.labels['apps.kubernetes.io/pod-index']");
  }

  @Test
  void theServerCheckpointsToAPersistentVolumeClaimOfItsOwn() {
    StatefulSet ps = one(StatefulSet.class, "ps");
    Container c = container(ps.getSpec().getTemplate());
    String dir = env(c).get("BATCHRPC_CHECKPOINT_DIR");
    assertThat(dir).as("ps BATCHRPC_CHECKPOINT_DIR").isNotBlank();
    VolumeMount mount = c.getVolumeMounts().stream().filter(m -> m.getMountPath().equals(dir)).findFirst()
        .orElseThrow(() -> new AssertionError("nothing mounted at " + dir));
    // from the StatefulSet's claim template: the volume follows ps-0 wherever it is scheduled
    assertThat(ps.getSpec().getVolumeClaimTemplates()).extracting(t -> t.getMetadata().getName())
        .contains(mount.getName());
    PersistentVolumeClaim claim = ps.getSpec().getVolumeClaimTemplates().stream()
        .filter(t -> t.getMetadata().getName().equals(mount.getName())).findFirst().orElseThrow();
    assertThat(claim.getSpec().getAccessModes()).contains("ReadWriteOnce");
    assertThat(claim.getSpec().getResources().getRequests()).containsKey("storage");
    // the image's user (uid 10001) can write the volume
    assertThat(ps.getSpec().getTemplate().getSpec().getSecurityContext().getFsGroup()).isEqualTo(10001L);
  }

  // ---- helpers --------------------------------------------------------------------------------

  private static void assertProbe(Probe probe, String path, String workload) {
    assertThat(probe).as("%s probe %s", workload, path).isNotNull();
    assertThat(probe.getHttpGet().getPath()).as(workload).isEqualTo(path);
    assertThat(probe.getHttpGet().getPort().getStrVal()).as(workload).isEqualTo("ops");
  }

  private static Map<String, PodTemplateSpec> workloads() {
    Map<String, PodTemplateSpec> out = new LinkedHashMap<>();
    for (HasMetadata r : RESOURCES) {
      if (r instanceof StatefulSet s) {
        out.put(s.getMetadata().getName(), s.getSpec().getTemplate());
      } else if (r instanceof Job j) {
        out.put(j.getMetadata().getName(), j.getSpec().getTemplate());
      }
    }
    assertThat(out.keySet()).containsExactlyInAnyOrder("ps", "trainer", "agent", "observer");
    return out;
  }

  private static Container container(PodTemplateSpec pod) {
    assertThat(pod.getSpec().getContainers()).hasSize(1);
    return pod.getSpec().getContainers().get(0);
  }

  /** The container's variables: the ConfigMaps it imports, then its own (null: from the downward API). */
  private static Map<String, String> env(Container c) {
    Map<String, String> out = new LinkedHashMap<>();
    for (EnvFromSource from : c.getEnvFrom()) {
      out.putAll(one(ConfigMap.class, from.getConfigMapRef().getName()).getData());
    }
    for (EnvVar v : c.getEnv()) {
      out.put(v.getName(), v.getValue());
    }
    return out;
  }

  private static <T extends HasMetadata> T one(Class<T> type, String name) {
    return RESOURCES.stream().filter(type::isInstance).map(type::cast)
        .filter(r -> r.getMetadata().getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " '" + name + "' in deploy/k8s"));
  }
}
