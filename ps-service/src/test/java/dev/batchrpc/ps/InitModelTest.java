package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerBadInputTest.rawGrpc;
import static dev.batchrpc.ps.ParameterServerVerticleTest.get;
import static dev.batchrpc.ps.ParameterServerVerticleTest.refusal;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetLayoutRequest;
import dev.batchrpc.proto.v1.InitModelReply;
import dev.batchrpc.proto.v1.InitModelRequest;
import dev.batchrpc.proto.v1.ModelLayout;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import dev.batchrpc.proto.v1.TensorSpec;
import dev.batchrpc.ps.model.Safetensors;
import dev.batchrpc.ps.model.TensorLayout;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.junit5.VertxExtension;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code InitModel}: a server started with {@code --model init} takes its model from the first
 * valid request; every later one is refused by layout ({@code ALREADY_INITIALIZED},
 * {@code LAYOUT_MISMATCH}); of racing requests exactly one wins; bad input changes nothing; and a
 * checkpoint keeps the layout, so a restarted server holds the same model.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InitModelTest {

  /** A small CNN's tensors: 8 + 2 + 16 + 2 = 28 parameters. */
  private static final List<TensorSpec> CNN = List.of(spec("conv.weight", 2, 1, 2, 2), spec("conv.bias", 2),
      spec("head.weight", 2, 8), spec("head.bias", 2));
  private static final int P = 28;

  @TempDir
  Path dir;

  private static TensorSpec spec(String name, long... shape) {
    TensorSpec.Builder b = TensorSpec.newBuilder().setName(name);
    for (long d : shape) {
      b.addShape(d);
    }
    return b.build();
  }

  private static float[] values(int n, float seed) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) Math.sin(seed + 0.3 * i) * 0.1f;
    }
    return v;
  }

  private static InitModelRequest request(List<TensorSpec> tensors, float[] values) {
    return InitModelRequest.newBuilder().setParticipantId("py-0").addAllTensors(tensors)
        .setValues(Tensors.vector(values)).build();
  }

  private static Future<InitModelReply> init(Vertx vertx, InitModelRequest q) {
    return vertx.eventBus().<InitModelReply>request(Addresses.PS_INIT_MODEL, q, ProtobufCodec.options())
        .map(Message::body);
  }

  private static Future<ModelLayout> layout(Vertx vertx) {
    return vertx.eventBus().<ModelLayout>request(Addresses.PS_GET_LAYOUT, GetLayoutRequest.getDefaultInstance(),
        ProtobufCodec.options()).map(Message::body);
  }

  /** The refusal's code and message. */
  private static String refused(Future<?> f) throws Exception {
    Throwable e = f.transform(ar -> ar.succeeded() ? Future.failedFuture(new AssertionError("accepted: " + ar.result()))
        : Future.succeededFuture(ar.cause())).await(30, TimeUnit.SECONDS);
    assertThat(e).isInstanceOf(ReplyException.class);
    return FailureCode.of(((ReplyException) e).failureCode()) + " " + e.getMessage();
  }

  private static ParameterServerVerticle deploy(Vertx vertx, PsConfig config) throws Exception {
    ProtobufCodec.register(vertx);
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
    return v;
  }

  private static PsConfig awaiting(int trainers) {
    return PsConfig.of(trainers, ModelSpec.awaitingInit(1000)).withGrpcPort(0);
  }

  @Test
  void theFirstInitModelSetsTheModelAndLaterOnesAreRefusedByLayout(Vertx vertx) throws Exception {
    ParameterServerVerticle v = deploy(vertx, awaiting(2));
    assertThat(v.hasModel()).isFalse();
    // before: every other call is UNAVAILABLE, saying why
    assertThat(refused(get(vertx, "a"))).startsWith("UNAVAILABLE the model is not initialised yet")
        .contains("--model init", "InitModel");
    assertThat(refused(layout(vertx))).startsWith("UNAVAILABLE the model is not initialised yet");
    assertThat(refused(send(vertx, update("a", 0, new float[P])))).startsWith("UNAVAILABLE");

    float[] first = values(P, 1);
    InitModelReply reply = init(vertx, request(CNN, first)).await(30, TimeUnit.SECONDS);
    TensorLayout expected = TensorLayout.fromProto(CNN, Long.MAX_VALUE);
    assertThat(reply.getModelVersion()).isZero();
    assertThat(reply.getLayout().getLayoutId()).isEqualTo(expected.id());
    assertThat(reply.getLayout().getParameterCount()).isEqualTo(P);
    assertThat(v.hasModel()).isTrue();
    assertThat(layout(vertx).await(10, TimeUnit.SECONDS)).isEqualTo(reply.getLayout());

    // the same layout again (other values): refused, the first model stays
    assertThat(refused(init(vertx, request(CNN, values(P, 2)))))
        .startsWith("ALREADY_INITIALIZED the parameter server already holds a model of this layout")
        .contains("at version 0", "GetModel");
    // another layout: refused naming the difference
    List<TensorSpec> wider = new ArrayList<>(CNN);
    wider.set(2, spec("head.weight", 3, 8));
    wider.set(3, spec("head.bias", 3));
    assertThat(refused(init(vertx, request(wider, values(P + 9, 3))))).startsWith("LAYOUT_MISMATCH")
        .contains("head.weight is [2, 8] on the server, [3, 8] in the request", "head.bias is [2] on the server");

    // the model is the first one, and trains: two trainers, one round = average + SGD
    ModelReply m = get(vertx, "a").await(10, TimeUnit.SECONDS);
    assertThat(Tensors.toFloats(m.getParameters())).containsExactly(first);
    assertThat(m.getLayoutId()).isEqualTo(expected.id());
    float[] ga = values(P, 5);
    float[] gb = values(P, 6);
    Future<ModelReply> a = send(vertx, update("a", 0, ga));
    ModelReply b = get(vertx, "b").compose(x -> send(vertx, update("b", 0, gb))).await(10, TimeUnit.SECONDS);
    assertThat(a.await(10, TimeUnit.SECONDS).getModelVersion()).isEqualTo(1);
    float[] after = Tensors.toFloats(b.getParameters());
    for (int i = 0; i < P; i++) {
      // SGD's first step: buf = mean gradient; p -= lr * buf
      float g = (ga[i] + gb[i]) / 2;
      assertThat(after[i]).as("parameter %d", i).isEqualTo(first[i] - 0.001f * g);
    }
    // after training, the same layout is still refused (the version says where the model is)
    assertThat(refused(init(vertx, request(CNN, first)))).startsWith("ALREADY_INITIALIZED").contains("at version 1");
  }

  @Test
  void ofRacingInitModelsExactlyOneWinsAndTheLosersAreRefusedOnlyOnceItsModelAnswers(Vertx vertx) throws Exception {
    deploy(vertx, awaiting(1));
    List<TensorSpec> other = List.of(spec("w", 4, 7));
    List<Future<InitModelReply>> racers = new ArrayList<>();
    List<Future<ModelReply>> fetchedOnRefusal = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      InitModelRequest q = i % 2 == 0 ? request(CNN, values(P, 10 + i)) : request(other, values(28, 10 + i));
      Future<InitModelReply> f = init(vertx, q);
      racers.add(f);
      // a loser fetches the model at once: the winner's model must already answer
      fetchedOnRefusal.add(f.transform(ar -> ar.succeeded() ? Future.succeededFuture(null) : get(vertx, "")));
    }
    Future.join(racers).otherwiseEmpty().await(30, TimeUnit.SECONDS);
    List<Integer> winners = new ArrayList<>();
    for (int i = 0; i < racers.size(); i++) {
      if (racers.get(i).succeeded()) {
        winners.add(i);
      } else {
        FailureCode code = FailureCode.of(((ReplyException) racers.get(i).cause()).failureCode());
        assertThat(code).as("racer %d: %s", i, racers.get(i).cause().getMessage())
            .isIn(FailureCode.ALREADY_INITIALIZED, FailureCode.LAYOUT_MISMATCH);
      }
    }
    assertThat(winners).as("exactly one InitModel wins").hasSize(1);
    int w = winners.get(0);
    float[] won = values(w % 2 == 0 ? P : 28, 10 + w);
    for (int i = 0; i < racers.size(); i++) {
      if (i != w) {
        ModelReply m = fetchedOnRefusal.get(i).await(10, TimeUnit.SECONDS);
        assertThat(Tensors.toFloats(m.getParameters())).as("racer %d's fetch", i).containsExactly(won);
        FailureCode code = FailureCode.of(((ReplyException) racers.get(i).cause()).failureCode());
        assertThat(code).isEqualTo(i % 2 == w % 2 ? FailureCode.ALREADY_INITIALIZED : FailureCode.LAYOUT_MISMATCH);
      }
    }
  }

  @Test
  void badInitModelsAreRefusedNamingTheProblemAndChangeNothing(Vertx vertx) throws Exception {
    ParameterServerVerticle v = deploy(vertx, awaiting(1));
    float[] ok = values(P, 1);
    float[] nan = ok.clone();
    nan[9] = Float.NaN;
    List<TensorSpec> duplicate = List.of(spec("w", 2, 2), spec("w", 3));
    Map<String, InitModelRequest> bad = new java.util.LinkedHashMap<>();
    bad.put("duplicate names", request(duplicate, values(7, 1)));
    bad.put("a zero dimension", request(List.of(spec("w", 2, 0)), new float[0]));
    bad.put("a negative dimension", request(List.of(spec("w", -2, 3)), values(6, 1)));
    bad.put("an empty name", request(List.of(spec("", 2)), values(2, 1)));
    bad.put("no tensors", request(List.of(), values(2, 1)));
    bad.put("a dtype other than F32", request(List.of(spec("w", 2).toBuilder().setDtype("F16").build()), values(2, 1)));
    bad.put("too few values", request(CNN, values(P - 1, 1)));
    bad.put("too many values", request(CNN, values(P + 1, 1)));
    bad.put("no values", request(CNN, ok).toBuilder().clearValues().build());
    bad.put("bytes not matching the shape", request(CNN, ok).toBuilder().setValues(Tensor.newBuilder().addShape(P)
        .setData(ByteString.copyFrom(new byte[4 * P - 2]))).build());
    bad.put("a NaN value", request(CNN, nan));
    bad.put("over --max-params", request(List.of(spec("w", 1001)), values(1001, 1)));
    Map<String, String> answers = new java.util.LinkedHashMap<>();
    for (var e : bad.entrySet()) {
      answers.put(e.getKey(), refused(init(vertx, e.getValue())));
      // nothing half-loaded: still no model
      assertThat(v.hasModel()).as(e.getKey()).isFalse();
      assertThat(refused(get(vertx, ""))).as(e.getKey()).startsWith("UNAVAILABLE the model is not initialised");
    }
    assertThat(answers.get("duplicate names")).startsWith("BAD_REQUEST InitModel of 'py-0': tensor name 'w' appears twice");
    assertThat(answers.get("a zero dimension")).startsWith("BAD_REQUEST").contains("every dimension must be >= 1");
    assertThat(answers.get("a negative dimension")).startsWith("BAD_REQUEST").contains("[-2, 3]");
    assertThat(answers.get("an empty name")).startsWith("BAD_REQUEST").contains("name is empty");
    assertThat(answers.get("no tensors")).startsWith("BAD_REQUEST").contains("at least one tensor");
    assertThat(answers.get("a dtype other than F32")).startsWith("BAD_REQUEST").contains("dtype F16");
    assertThat(answers.get("too few values")).startsWith("SHAPE_MISMATCH").contains("28");
    assertThat(answers.get("too many values")).startsWith("SHAPE_MISMATCH").contains("28");
    assertThat(answers.get("no values")).startsWith("SHAPE_MISMATCH").contains("values are missing");
    assertThat(answers.get("bytes not matching the shape")).startsWith("SHAPE_MISMATCH");
    assertThat(answers.get("a NaN value")).startsWith("NON_FINITE").contains("index 9 (conv.bias[1])");
    assertThat(answers.get("over --max-params")).startsWith("TOO_LARGE")
        .contains("1001 parameters, over this server's limit of 1000 (--max-params)");

    // a good one still wins after all that; then the same bad input leaves its model as it was
    init(vertx, request(CNN, ok)).await(10, TimeUnit.SECONDS);
    for (var e : bad.entrySet()) {
      assertThat(refused(init(vertx, e.getValue()))).as(e.getKey()).isEqualTo(answers.get(e.getKey()));
    }
    assertThat(Tensors.toFloats(get(vertx, "").await(10, TimeUnit.SECONDS).getParameters())).containsExactly(ok);
  }

  @Test
  void overGrpcTheRefusalsCarryTheirReasonAndAServerStartedWithAModelRefusesToo(Vertx vertx) throws Exception {
    ParameterServerVerticle v = deploy(vertx, PsConfig.of(1, ModelSpec.mlp(4, 3)).withGrpcPort(0));
    GrpcClient raw = GrpcClient.client(vertx, new GrpcClientOptions());
    String method = "batchrpc.v1.ParameterServer/InitModel";
    List<TensorSpec> mlp = TensorLayout.mlp(4, 3).toProto();
    String same = rawGrpc(raw, v.grpcPort(), method, request(mlp, values(15, 1)).toByteArray()).await(10, TimeUnit.SECONDS);
    String other = rawGrpc(raw, v.grpcPort(), method, request(CNN, values(P, 1)).toByteArray()).await(10, TimeUnit.SECONDS);
    String id = TensorLayout.mlp(4, 3).id();
    assertThat(same).startsWith("ALREADY_EXISTS the parameter server already holds a model of this layout (mlp [4,3]")
        .endsWith("| ALREADY_INITIALIZED {failure_code=423, layout_id=" + id + ", model_version=0}");
    assertThat(other).startsWith("FAILED_PRECONDITION ").contains("0.weight[3, 4] on the server is not in the request")
        .endsWith("| LAYOUT_MISMATCH {failure_code=422, layout_id=" + id + ", request_layout_id="
            + TensorLayout.fromProto(CNN, Long.MAX_VALUE).id() + "}");
    ParameterServerVerticle empty = deploy(vertx, awaiting(1));
    String before = rawGrpc(raw, empty.grpcPort(), "batchrpc.v1.ParameterServer/GetModel", new byte[0])
        .await(10, TimeUnit.SECONDS);
    assertThat(before).startsWith("UNAVAILABLE the model is not initialised yet")
        .endsWith("| UNAVAILABLE {failure_code=503, model=uninitialized}");
  }

  @Test
  void aCheckpointKeepsTheLayoutSoARestartedInitServerHoldsTheSameModel(Vertx vertx) throws Exception {
    PsConfig config = awaiting(1).withCheckpoints(new CheckpointConfig(dir, 2, 3));
    ParameterServerVerticle first = deploy(vertx, config);
    float[] initial = values(P, 1);
    init(vertx, request(CNN, initial)).await(10, TimeUnit.SECONDS);
    // the initial model is on disk before InitModel answers: nothing else could reproduce it
    assertThat(CheckpointDirectory.read(dir.resolve(CheckpointDirectory.fileName(0))).layout())
        .isEqualTo(TensorLayout.fromProto(CNN, Long.MAX_VALUE));
    ModelLayout layoutBefore = layout(vertx).await(10, TimeUnit.SECONDS);
    ModelReply m = get(vertx, "t").await(10, TimeUnit.SECONDS);
    for (int r = 0; r < 3; r++) {
      m = send(vertx, update("t", m.getModelVersion(), values(P, 20 + r))).await(10, TimeUnit.SECONDS);
    }
    vertx.undeploy(vertx.deploymentIDs().iterator().next()).await(30, TimeUnit.SECONDS);
    assertThat(first.hasModel()).isTrue();

    // a new --model init server on the same directory holds that model at once, layout included
    ParameterServerVerticle second = deploy(vertx, config);
    assertThat(second.hasModel()).isTrue();
    assertThat(layout(vertx).await(10, TimeUnit.SECONDS)).isEqualTo(layoutBefore);
    ModelReply restored = get(vertx, "t").await(10, TimeUnit.SECONDS);
    assertThat(restored.getModelVersion()).isEqualTo(3);
    assertThat(Tensors.toFloats(restored.getParameters())).containsExactly(Tensors.toFloats(m.getParameters()));
    assertThat(refused(init(vertx, request(CNN, initial)))).startsWith("ALREADY_INITIALIZED").contains("at version 3");
    assertThat(refused(init(vertx, request(List.of(spec("w", 3)), values(3, 1))))).startsWith("LAYOUT_MISMATCH");
  }

  @Test
  void anInitFromModelsCheckpointRestoresIntoAnInitServerAndABuiltInOneIsRefused(Vertx vertx) throws Exception {
    TensorLayout cnn = TensorLayout.fromProto(CNN, Long.MAX_VALUE);
    Path file = dir.resolve("cnn.safetensors");
    Safetensors.write(file, cnn, FloatBuffer.wrap(values(P, 4)), Map.of());
    Path ckpt = dir.resolve("ckpt");
    CheckpointConfig checkpoints = new CheckpointConfig(ckpt, 50, 3);
    deploy(vertx, PsConfig.of(1, ModelSpec.fromFile(file)).withCheckpoints(checkpoints));
    ModelReply m = get(vertx, "t").compose(x -> send(vertx, update("t", 0, values(P, 7)))).await(10, TimeUnit.SECONDS);
    vertx.undeploy(vertx.deploymentIDs().iterator().next()).await(30, TimeUnit.SECONDS);

    deploy(vertx, awaiting(1).withCheckpoints(checkpoints));
    ModelLayout l = layout(vertx).await(10, TimeUnit.SECONDS);
    assertThat(l.getLayoutId()).isEqualTo(cnn.id());
    assertThat(TensorLayout.fromProto(l.getTensorsList(), Long.MAX_VALUE)).isEqualTo(cnn);
    assertThat(Tensors.toFloats(get(vertx, "").await(10, TimeUnit.SECONDS).getParameters()))
        .containsExactly(Tensors.toFloats(m.getParameters()));
    vertx.undeploy(vertx.deploymentIDs().iterator().next()).await(30, TimeUnit.SECONDS);

    // a built-in model's directory is not a --model init server's: refused at start, naming the flag
    Path mlpDir = dir.resolve("mlp");
    CheckpointConfig mlpCheckpoints = new CheckpointConfig(mlpDir, 50, 3);
    deploy(vertx, PsConfig.of(1, ModelSpec.mlp(4, 3)).withCheckpoints(mlpCheckpoints));
    get(vertx, "t").compose(x -> send(vertx, update("t", 0, new float[15]))).await(10, TimeUnit.SECONDS);
    vertx.undeploy(vertx.deploymentIDs().iterator().next()).await(30, TimeUnit.SECONDS);
    assertThat(Files.list(mlpDir).count()).isEqualTo(1);
    ParameterServerVerticle refusedStart = new ParameterServerVerticle(awaiting(1).withCheckpoints(mlpCheckpoints), null);
    assertThatThrownBy(() -> vertx.deployVerticle(refusedStart).await(30, TimeUnit.SECONDS))
        .hasMessageContaining("--checkpoint-dir " + mlpDir)
        .hasMessageContaining("of the built-in model 'mlp 4,3': --model init restores only a user's model");
  }

  @Test
  void refusalsAreTheirEventBusCodes(Vertx vertx) throws Exception {
    deploy(vertx, awaiting(1));
    init(vertx, request(CNN, values(P, 1))).await(10, TimeUnit.SECONDS);
    assertThat(refusal(init(vertx, request(CNN, values(P, 1)))).await(10, TimeUnit.SECONDS).code()).isEqualTo(423);
    assertThat(refusal(init(vertx, request(List.of(spec("w", 1)), values(1, 1)))).await(10, TimeUnit.SECONDS).code())
        .isEqualTo(422);
  }
}
