package dev.batchrpc.suite;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentMode;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.ps.model.Safetensors;
import dev.batchrpc.trainer.ClassificationTask;
import dev.batchrpc.trainer.PsClient;
import dev.batchrpc.trainer.Trainer;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Python client package (clients/python/batchrpc) against a real parameter server: Python
 * trainers beside a Java trainer in the same rounds, a user's own CNN initialised from Python,
 * trained, exported to safetensors and loaded back into torch, and every refusal reaching Python as
 * its exception. Needs Debian's python3-torch, python3-grpcio, python3-grpc-tools (.ci/run installs
 * them); without them the tests are skipped with that reason.
 */
class PythonClientTest {

  private static final String PYTHON = "/usr/bin/python3";
  private static final Path CLIENT = Path.of("..", "clients", "python").toAbsolutePath().normalize();
  private static final Path EXAMPLES = Path.of("..", "examples", "python").toAbsolutePath().normalize();
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;
  private Vertx vertx;

  @BeforeAll
  static void pythonWithTorchAndGrpc() throws Exception {
    boolean ok = Files.isExecutable(Path.of(PYTHON)) && new ProcessBuilder(PYTHON, "-c",
        "import torch, grpc, grpc_tools, google.protobuf").redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor() == 0;
    Assumptions.assumeTrue(ok, "needs " + PYTHON + " with Debian's python3-torch, python3-grpcio, "
        + "python3-grpc-tools and python3-protobuf (.ci/run installs them)");
  }

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    ProtobufCodec.register(vertx);
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private ParameterServerVerticle deploy(PsConfig config) throws Exception {
    ParameterServerVerticle ps = new ParameterServerVerticle(config, null);
    vertx.deployVerticle(ps).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    return ps;
  }

  private Process python(String name, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(PYTHON));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile())
        .start();
  }

  /** Waits for the process; its exit code must be 0 (else the test fails with its log). */
  private String finish(Process p, String name) throws Exception {
    boolean done = p.waitFor(240, TimeUnit.SECONDS);
    String log = Files.readString(dir.resolve(name + ".log"));
    if (!done) {
      p.destroyForcibly();
    }
    assertThat(done && p.exitValue() == 0).as("%s exited 0 in time; its output:%n%s", name, log).isTrue();
    return log;
  }

  private static JsonNode lastJson(String log) throws IOException {
    String[] lines = log.strip().split("\n");
    return JSON.readTree(lines[lines.length - 1]);
  }

  private static String digest(float[] values) throws Exception {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array())).substring(0, 16);
  }

  @Test
  void pythonAndJavaTrainersTakePartInTheSameRoundsAndHoldTheSameModel() throws Exception {
    int rounds = 12;
    int[] layers = {16, 8, 4};
    ParameterServerVerticle ps = deploy(PsConfig.of(3, ModelSpec.mlp(layers))
        .withParticipants("py-0", "py-1", "java-0").withGrpcPort(0));
    String target = "127.0.0.1:" + ps.grpcPort();
    Path report = dir.resolve("rounds.jsonl");
    List<Process> py = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      py.add(python("py-" + i, EXAMPLES.resolve("train_mlp.py").toString(), "--target", target, "--id", "py-" + i,
          "--rounds", Integer.toString(rounds), "--layers", "16,8,4", "--batch-size", "8",
          "--report", report.toString()));
    }
    Trainer.Summary java = new Trainer(vertx, PsClient.eventBus(vertx, 120_000), "java-0",
        new ClassificationTask("synthetic", layers, 8, 3, "java-0"), rounds, null).run()
        .toCompletionStage().toCompletableFuture().get(240, TimeUnit.SECONDS);
    for (int i = 0; i < 2; i++) {
      assertThat(finish(py.get(i), "py-" + i)).contains("py-" + i + ": done, " + rounds + " rounds, model v" + rounds);
    }
    // every round: both Python trainers got the same model, a round of all three trainers
    Map<Long, List<String>> digests = new TreeMap<>();
    for (String line : Files.readAllLines(report)) {
      JsonNode r = JSON.readTree(line);
      assertThat(r.get("round_size").asInt()).as(line).isEqualTo(3);
      digests.computeIfAbsent(r.get("version").asLong(), v -> new ArrayList<>()).add(r.get("digest").asText());
    }
    assertThat(digests).hasSize(rounds);
    digests.forEach((v, d) -> assertThat(d).as("version %d", v).hasSize(2).containsOnly(d.get(0)));
    assertThat(java.finalVersion()).isEqualTo(rounds);
    // ... and the server's model after the last round is the one they hold
    float[] model = ps.server().compose(s -> s.parameters()).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(digest(model)).isEqualTo(digests.get((long) rounds).get(0));
  }

  @Test
  void aUsersCnnIsInitialisedFromPythonTrainedExportedAndLoadedBackIntoTorch() throws Exception {
    int rounds = 5;
    Path export = dir.resolve("cnn-export.safetensors");
    String script = CLIENT.resolve("tests").resolve("cnn_roundtrip.py").toString();
    PsConfig config = PsConfig.builder(2, ModelSpec.awaitingInit(10_000)).participants(List.of("cnn-0", "cnn-1"))
        .grpcPort(0).lr(0.05f).exportTo(export).build();
    ParameterServerVerticle ps = deploy(config);
    assertThat(ps.hasModel()).as("--model init: no model before InitModel").isFalse();
    String target = "127.0.0.1:" + ps.grpcPort();
    // both trainers call init_model(model, exist_ok=True) with the same seeded CNN: one sets it
    Process a = python("cnn-0", script, "train", target, "cnn-0", Integer.toString(rounds));
    Process b = python("cnn-1", script, "train", target, "cnn-1", Integer.toString(rounds));
    JsonNode ra = lastJson(finish(a, "cnn-0"));
    JsonNode rb = lastJson(finish(b, "cnn-1"));
    assertThat(List.of(ra.get("initialized").asBoolean(), rb.get("initialized").asBoolean()))
        .as("exactly one trainer's InitModel set the model").containsExactlyInAnyOrder(true, false);
    assertThat(ra.get("version").asInt()).isEqualTo(rounds);
    assertThat(ra.get("round_size").asInt()).isEqualTo(2);
    assertThat(ra.get("digest")).isEqualTo(rb.get("digest"));

    // the server's model (GetModel) is torch's: the same batches, averaged, SGD with momentum
    Path served = dir.resolve("cnn-served.safetensors");
    JsonNode check = lastJson(finish(python("check", script, "check", target, served.toString(), "0.05", "0.9",
        Integer.toString(rounds), "cnn-0", "cnn-1"), "check"));
    assertThat(check.get("version").asInt()).isEqualTo(rounds);
    assertThat(check.get("digest")).isEqualTo(ra.get("digest"));
    assertThat(check.get("close_to_torch").asBoolean()).as("%s", check).isTrue();
    assertThat(check.get("max_abs_diff_to_torch").asDouble()).isLessThan(1e-5);
    ParameterServer server = ps.server().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(server.layout().getTensorsList()).extracting(t -> t.getName() + t.getShapeList())
        .containsExactly("conv.weight[4, 1, 3, 3]", "conv.bias[4]", "head.weight[3, 64]", "head.bias[3]");
    float[] model = server.parameters().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);

    // stopping the server writes --export: the same model, read by the server's reader and by torch
    vertx.undeploy(vertx.deploymentIDs().iterator().next()).toCompletionStage().toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    Safetensors.Loaded back = Safetensors.read(export, Long.MAX_VALUE);
    assertThat(back.layout().toProto()).isEqualTo(server.layout().getTensorsList());
    assertThat(java.util.Arrays.mismatch(back.values(), model)).isEqualTo(-1);
    assertThat(back.metadata()).containsEntry("model_version", Integer.toString(rounds))
        .containsEntry("layout_id", server.layout().getLayoutId());
    JsonNode verify = lastJson(finish(python("verify", script, "verify", export.toString(), served.toString()),
        "verify"));
    assertThat(verify.get("export_equals_get_model").asBoolean()).isTrue();
    assertThat(verify.get("module_equals_get_model").asBoolean()).isTrue();
    assertThat(verify.get("digest")).isEqualTo(ra.get("digest"));
  }

  @Test
  void initModelFromPythonRacesOnceAndRefusesBadModulesAsTypedExceptions() throws Exception {
    int limit = 5000;
    ParameterServerVerticle ps = deploy(PsConfig.of(1, ModelSpec.awaitingInit(limit)).withGrpcPort(0));
    JsonNode out = lastJson(finish(python("init", CLIENT.resolve("tests").resolve("init_check.py").toString(),
        "127.0.0.1:" + ps.grpcPort(), Integer.toString(limit)), "init"));
    assertThat(out.path("fetch-before-init").path("exception").asText()).isEqualTo("Unavailable");
    assertThat(out.path("fetch-before-init").path("message").asText()).contains("not initialised yet");
    Map<String, String> bad = Map.of("zero-dimension", "BadRequest", "non-finite", "NonFinite", "too-large", "TooLarge",
        "no-parameters", "BadRequest", "duplicate-names", "BadRequest", "value-count", "ShapeMismatch");
    bad.forEach((c, e) -> {
      assertThat(out.path(c).path("exception").asText()).as("%s: %s", c, out.path(c)).isEqualTo(e);
      assertThat(out.path(c).path("after").asText()).as("%s leaves the server without a model", c)
          .isEqualTo("uninitialized");
    });
    assertThat(out.path("non-finite").path("message").asText()).contains("(w[2])");
    assertThat(out.path("too-large").path("metadata").path("limit_parameters").asInt()).isEqualTo(limit);
    assertThat(out.path("duplicate-names").path("message").asText()).contains("'w' appears twice");
    // of two racing clients exactly one set the model; the other was refused, and the model is the winner's
    assertThat(out.path("race").toString()).isIn("[true,\"AlreadyInitialized\"]", "[\"AlreadyInitialized\",true]");
    assertThat(out.path("fetched-equals-winner").asBoolean()).isTrue();
    assertThat(out.path("again-exist-ok").path("result").asBoolean(true)).isFalse();
    for (String c : List.of("other-layout", "other-layout-exist-ok")) {
      assertThat(out.path(c).path("exception").asText()).as("%s", c).isEqualTo("LayoutMismatch");
      assertThat(out.path(c).path("status").asText()).isEqualTo("FAILED_PRECONDITION");
      assertThat(out.path(c).path("message").asText()).contains("conv.weight is [4, 1, 3, 3] on the server, "
          + "[8, 1, 3, 3] in the request");
    }
  }

  @Test
  void aPythonObserverServedOverGrpcTakesPartBesideAJvmObserver() throws Exception {
    int episodes = 3;
    int steps = 40;
    AgentConfig config = AgentConfig.of(2, AgentMode.BATCH, 5).withGrpc("127.0.0.1", 0);
    AgentVerticle agent = new AgentVerticle(config, null);
    vertx.deployVerticle(agent).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    vertx.deployVerticle(new ObserverVerticle(new ObserverConfig("observer-0", 0, 5, 10_000, true)))
        .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    Process py = new ProcessBuilder(PYTHON, CLIENT.resolve("tests").resolve("observer_check.py").toString(),
        "127.0.0.1:" + agent.grpcPort()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("observer.log").toFile()).start();
    agent.observersReady().toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    List<EpisodeResult> results = new ArrayList<>();
    for (int e = 0; e < episodes; e++) {
      results.add(agent.runEpisode(steps).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS));
    }
    py.getOutputStream().close();
    JsonNode out = lastJson(finish(py, "observer"));
    // a registration that would take over the live JVM observer is refused, and it keeps running
    assertThat(out.path("takeover").path("exception").asText()).isEqualTo("Duplicate");
    assertThat(out.path("takeover").path("message").asText())
        .contains("observer 'observer-0' is live on the event bus");
    for (EpisodeResult r : results) {
      assertThat(r.observers()).as("episode %d", r.episode()).isEqualTo(2);
      assertThat(r.steps()).isEqualTo(steps);
    }
    // the Python observer ran every step of every episode with the agent's actions
    assertThat(out.path("steps").asInt()).isEqualTo(episodes * steps);
    assertThat(out.path("episodes")).hasSize(episodes);
    assertThat(out.path("actions").toString()).isIn("[0,1]", "[0]", "[1]");
  }

  @Test
  void everyRefusalReachesPythonAsItsOwnException() throws Exception {
    PsConfig config = PsConfig.of(2, ModelSpec.mlp(16, 8, 4)).withParticipants("a", "b").withGrpcPort(0);
    ParameterServerVerticle ps = deploy(config);
    // a second server whose rounds fail: a round that b never joins times out (no partial rounds),
    // and its first step fails on the server (a round listener that throws: the one way to make a
    // healthy server's batch fail on purpose)
    ParameterServerVerticle strict = deploy(config.toBuilder().maxWait(Duration.ofMillis(1500)).runPartial(false)
        .build());
    strict.server().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).onRound(v -> {
      throw new IllegalStateException("injected failure after step " + v);
    });
    String log = finish(python("errors", CLIENT.resolve("tests").resolve("errors_check.py").toString(),
        "127.0.0.1:" + ps.grpcPort(), "16,8,4", "127.0.0.1:" + strict.grpcPort()), "errors");
    JsonNode out = lastJson(log);
    Map<String, String> expected = Map.ofEntries(Map.entry("bad-request", "BadRequest"),
        Map.entry("unknown-participant", "UnknownParticipant"), Map.entry("layout-mismatch", "LayoutMismatch"),
        Map.entry("non-finite", "NonFinite"), Map.entry("shape-mismatch", "ShapeMismatch"),
        Map.entry("too-large", "TooLarge"), Map.entry("future-version", "FutureVersion"),
        Map.entry("duplicate", "Duplicate"), Map.entry("stale-version", "StaleVersion"),
        Map.entry("unavailable", "Unavailable"), Map.entry("round-timeout", "RoundTimeout"),
        Map.entry("batch-failed", "BatchFailed"), Map.entry("already-initialized", "AlreadyInitialized"),
        Map.entry("layout-mismatch-from-server", "LayoutMismatch"));
    expected.forEach((c, e) -> assertThat(out.path(c).path("exception").asText()).as("%s: %s", c, out.path(c))
        .isEqualTo(e));
    assertThat(out.path("future-version").path("metadata").path("request_version").asText()).isEqualTo("7");
    assertThat(out.path("future-version").path("metadata").path("server_version").asText()).isEqualTo("0");
    assertThat(out.path("stale-version").path("metadata").path("server_version").asText()).isEqualTo("1");
    assertThat(out.path("too-large").path("metadata").path("limit_bytes").asLong())
        .isEqualTo(config.grpcMaxMessageBytes());
    assertThat(out.path("duplicate").path("status").asText()).isEqualTo("FAILED_PRECONDITION");
    assertThat(out.path("round-timeout").path("status").asText()).isEqualTo("DEADLINE_EXCEEDED");
    assertThat(out.path("round-timeout").path("message").asText()).contains("timed out: 1 of 2 participants arrived");
    assertThat(out.path("batch-failed").path("status").asText()).isEqualTo("INTERNAL");
    assertThat(out.path("batch-failed").path("message").asText()).contains("injected failure after step 1");
    assertThat(out.path("batch-failed").path("b").asText()).isEqualTo("BatchFailed");
    assertThat(out.path("already-initialized").path("metadata").path("model_version").asInt()).isEqualTo(1);
    assertThat(out.path("layout-mismatch-from-server").path("reason").asText()).isEqualTo("LAYOUT_MISMATCH");
    assertThat(out.path("layout-mismatch").path("message").asText()).contains("0.weight is [8, 16] on the server, [8, 17]");
    // the refusals harmed no round: the first round completed for both, with a and b in it
    assertThat(out.path("round").path("version").asInt()).isEqualTo(1);
    assertThat(out.path("round").path("b").asInt()).isEqualTo(1);
  }
}
