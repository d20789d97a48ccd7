package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.get;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.GetLayoutRequest;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelLayout;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.ParameterServerGrpcClient;
import dev.batchrpc.proto.v1.TensorSpec;
import dev.batchrpc.ps.model.Safetensors;
import dev.batchrpc.ps.model.TensorLayout;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The model's layout: served by GetLayout, named by every reply; a user's model from a safetensors file. */
@ExtendWith(VertxExtension.class)
class ModelLayoutServiceTest {

  @TempDir
  Path dir;

  private static Future<ParameterServerVerticle> deploy(Vertx vertx, PsConfig config) {
    ProtobufCodec.register(vertx);
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    return vertx.deployVerticle(v).map(id -> v);
  }

  private static String describe(ModelLayout l) {
    StringBuilder b = new StringBuilder();
    for (TensorSpec t : l.getTensorsList()) {
      b.append(t.getName()).append(t.getShapeList()).append(t.getDtype()).append(' ');
    }
    return b.toString().trim();
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void theBuiltInMlpServesItsLayoutOnBothTransportsAndEveryReplyNamesIt(Vertx vertx, VertxTestContext ctx) {
    PsConfig config = PsConfig.of(1, ModelSpec.mlp(6, 4, 3)).withGrpcPort(0);
    String id = TensorLayout.mlp(6, 4, 3).id();
    deploy(vertx, config).compose(v -> {
      ParameterServerGrpcClient grpc = ParameterServerGrpcClient.create(
          GrpcClient.client(vertx, new GrpcClientOptions()), SocketAddress.inetSocketAddress(v.grpcPort(), "127.0.0.1"));
      Future<ModelLayout> bus = vertx.eventBus().<ModelLayout>request(Addresses.PS_GET_LAYOUT,
          GetLayoutRequest.getDefaultInstance(), ProtobufCodec.options()).map(Message::body);
      return Future.all(bus, grpc.getLayout(GetLayoutRequest.getDefaultInstance()), get(vertx, "t"),
          grpc.getModel(GetModelRequest.newBuilder().setParticipantId("t").build()));
    }).compose(all -> send(vertx, update("t", 0, new float[43])).map(r -> {
      ctx.verify(() -> {
        ModelLayout bus = all.resultAt(0);
        assertThat(describe(bus)).isEqualTo("0.weight[4, 6]F32 0.bias[4]F32 2.weight[3, 4]F32 2.bias[3]F32");
        assertThat(bus.getLayoutId()).isEqualTo(id);
        assertThat(bus.getParameterCount()).isEqualTo(43);
        assertThat((ModelLayout) all.resultAt(1)).isEqualTo(bus);
        assertThat(((ModelReply) all.resultAt(2)).getLayoutId()).isEqualTo(id);
        assertThat(((ModelReply) all.resultAt(3)).getLayoutId()).isEqualTo(id);
        assertThat(r.getModelVersion()).isEqualTo(1);
        assertThat(r.getLayoutId()).isEqualTo(id);
      });
      return r;
    })).onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void aUsersModelFromASafetensorsFileIsServedAsVersionZero(Vertx vertx, VertxTestContext ctx) throws Exception {
    TensorLayout layout = TensorLayout.of(List.of(new TensorLayout.Entry("conv.weight", new long[] {2, 1, 2, 2}),
        new TensorLayout.Entry("conv.bias", new long[] {2}), new TensorLayout.Entry("head.weight", new long[] {1, 8})),
        Long.MAX_VALUE);
    float[] initial = new float[(int) layout.parameterCount()];
    for (int i = 0; i < initial.length; i++) {
      initial[i] = 0.01f * i - 0.05f;
    }
    Path file = dir.resolve("cnn.safetensors");
    Safetensors.write(file, layout, FloatBuffer.wrap(initial), Map.of());
    ModelSpec spec = ModelSpec.fromFile(file);
    assertThat(spec.parameterCount()).isEqualTo(18);
    assertThat(spec.toString()).contains("3 tensors", "18 parameters", layout.id());
    deploy(vertx, PsConfig.of(1, spec)).compose(v -> Future.all(get(vertx, "t"),
        vertx.eventBus().<ModelLayout>request(Addresses.PS_GET_LAYOUT, GetLayoutRequest.getDefaultInstance(),
            ProtobufCodec.options()).map(Message::body)))
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          ModelReply m = all.resultAt(0);
          assertThat(m.getModelVersion()).isZero();
          assertThat(Tensors.toFloats(m.getParameters())).containsExactly(initial);
          assertThat(m.getLayoutId()).isEqualTo(layout.id());
          assertThat(describe(all.resultAt(1))).isEqualTo("conv.weight[2, 1, 2, 2]F32 conv.bias[2]F32 head.weight[1, 8]F32");
          assertThat(CheckpointDirectory.identity(spec)).isEqualTo("tensors " + layout.id());
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
  void exportWritesTheModelWhenTheServerStops(Vertx vertx, VertxTestContext ctx) {
    Path out = dir.resolve("trained.safetensors");
    PsConfig config = PsConfig.of(1, ModelSpec.mlp(4, 3)).toBuilder().exportTo(out).build();
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    ProtobufCodec.register(vertx);
    vertx.deployVerticle(v).compose(id -> get(vertx, "t").compose(m -> send(vertx, update("t", 0, new float[15])))
        .compose(r -> vertx.undeploy(id).map(r)))
        .onComplete(ctx.succeeding(r -> ctx.verify(() -> {
          Safetensors.Loaded back = Safetensors.read(out, Long.MAX_VALUE);
          assertThat(back.layout()).isEqualTo(TensorLayout.mlp(4, 3));
          assertThat(back.values()).containsExactly(Tensors.toFloats(r.getParameters()));
          assertThat(back.metadata()).containsEntry("model_version", "1")
              .containsEntry("layout_id", TensorLayout.mlp(4, 3).id());
          ctx.completeNow();
        })));
  }
}
