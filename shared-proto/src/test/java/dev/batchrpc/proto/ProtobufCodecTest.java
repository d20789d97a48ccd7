package dev.batchrpc.proto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.StringValue;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.RunEpisodeReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import dev.batchrpc.proto.v1.UpdateRequest;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(VertxExtension.class)
class ProtobufCodecTest {

  private final ProtobufCodec codec = ProtobufCodec.instance();

  @Test
  void everyContractMessageIsRegistered() throws Exception {
    // Every .proto file of the contract, found on disk, so a new file cannot be forgotten.
    java.util.List<FileDescriptor> files = new java.util.ArrayList<>();
    try (Stream<java.nio.file.Path> protos = java.nio.file.Files.list(java.nio.file.Path.of("src/main/proto/batchrpc/v1"))) {
      for (java.nio.file.Path proto : protos.filter(f -> f.toString().endsWith(".proto")).toList()) {
        java.util.regex.Matcher outer = java.util.regex.Pattern
            .compile("option java_outer_classname = \"(\\w+)\";").matcher(java.nio.file.Files.readString(proto));
        assertThat(outer.find()).as("%s names its outer class", proto).isTrue();
        files.add((FileDescriptor) Class.forName("dev.batchrpc.proto.v1." + outer.group(1))
            .getMethod("getDescriptor").invoke(null));
      }
    }
    assertThat(files).hasSizeGreaterThanOrEqualTo(5);
    Set<String> declared = files.stream()
        .map(FileDescriptor::getMessageTypes)
        .flatMap(java.util.List::stream)
        .map(Descriptor::getFullName)
        .collect(Collectors.toSet());

    assertThat(declared).isNotEmpty();
    assertThat(ProtobufCodec.registeredTypes()).containsAll(declared);
  }

  @Test
  void wireRoundTripOfEachKindOfPayload() {
    UpdateRequest update = UpdateRequest.newBuilder().setParticipantId("trainer-1")
        .setModelVersion(17).setGradients(Tensors.vector(new float[] {0.5f, -1f, 2f})).build();
    SelectActionRequest step = SelectActionRequest.newBuilder().setObserverId("obs-3")
        .setEpisode(9).setStep(499).setState(Tensors.of(new float[] {.1f, .2f, .3f, .4f}, 4))
        .build();
    RunEpisodeReply episode = RunEpisodeReply.newBuilder().setObserverId("obs-3")
        .addRewards(1f).addRewards(1f).addTerminated(false).addTerminated(true)
        .setFirstEpisodeReward(2f).build();

    for (Message m : new Message[] {update, step, episode}) {
      // A non-empty prefix: decodeFromWire must honour the position it is given.
      Buffer buf = Buffer.buffer().appendString("frame-header");
      int pos = buf.length();
      codec.encodeToWire(buf, m);

      Message decoded = codec.decodeFromWire(pos, buf);
      assertThat(decoded).isNotSameAs(m).isEqualTo(m);
    }
  }

  @Test
  void decodedTensorDataSurvivesReuseOfTheWireBuffer() {
    float[] grads = {3f, 1f, 4f, 1f, 5f};
    UpdateRequest update = UpdateRequest.newBuilder().setParticipantId("t")
        .setGradients(Tensors.vector(grads)).build();
    Buffer buf = Buffer.buffer();
    codec.encodeToWire(buf, update);

    UpdateRequest decoded = (UpdateRequest) codec.decodeFromWire(0, buf);
    // Aliasing must point into the decoder's own copy, never into the network buffer.
    buf.setBytes(0, new byte[buf.length()]);
    assertThat(Tensors.toFloats(decoded.getGradients())).containsExactly(grads);
  }

  @Test
  void unknownTypeNameFailsNamingTheType() {
    byte[] name = "batchrpc.v1.NoSuchMessage".getBytes(StandardCharsets.UTF_8);
    Buffer buf = Buffer.buffer().appendInt(name.length).appendBytes(name).appendInt(0);

    assertThatThrownBy(() -> codec.decodeFromWire(0, buf))
        .isInstanceOf(ProtobufDecodeException.class)
        .hasMessageContaining("unknown protobuf type 'batchrpc.v1.NoSuchMessage'")
        .hasMessageContaining("batchrpc.v1.UpdateRequest");
  }

  @Test
  void malformedBytesFailNamingTheType() {
    byte[] name = "batchrpc.v1.UpdateRequest".getBytes(StandardCharsets.UTF_8);
    // Field 1 (string) declares 100 bytes but only 2 follow.
    byte[] body = {0x0a, 100, 'a', 'b'};
    Buffer buf = Buffer.buffer().appendInt(name.length).appendBytes(name)
        .appendInt(body.length).appendBytes(body);

    assertThatThrownBy(() -> codec.decodeFromWire(0, buf))
        .isInstanceOf(ProtobufDecodeException.class)
        .hasMessageContaining("malformed batchrpc.v1.UpdateRequest (4 bytes)")
        .hasCauseInstanceOf(com.google.protobuf.InvalidProtocolBufferException.class);
  }

  @Test
  void truncatedFramesFailClearly() {
    Buffer full = Buffer.buffer();
    codec.encodeToWire(full, ModelReply.newBuilder().setModelVersion(3)
        .setParameters(Tensors.vector(new float[16])).build());

    Buffer cutInBody = full.getBuffer(0, full.length() - 10);
    assertThatThrownBy(() -> codec.decodeFromWire(0, cutInBody))
        .isInstanceOf(ProtobufDecodeException.class)
        .hasMessageContaining("batchrpc.v1.ModelReply")
        .hasMessageContaining("but " + (cutInBody.length() - 4 - 4
            - "batchrpc.v1.ModelReply".length()) + " bytes remain");

    Buffer garbageLength = Buffer.buffer().appendInt(-5).appendInt(0);
    assertThatThrownBy(() -> codec.decodeFromWire(0, garbageLength))
        .isInstanceOf(ProtobufDecodeException.class)
        .hasMessageContaining("type-name length -5");

    assertThatThrownBy(() -> codec.decodeFromWire(0, Buffer.buffer()))
        .isInstanceOf(ProtobufDecodeException.class)
        .hasMessageContaining("truncated");
  }

  @Test
  void extraTypesCanBeRegistered() {
    StringValue value = StringValue.of("hello");
    Buffer buf = Buffer.buffer();
    codec.encodeToWire(buf, value);

    ProtobufCodec.registerType(StringValue.getDefaultInstance());
    assertThat(ProtobufCodec.registeredTypes()).contains("google.protobuf.StringValue");
    assertThat(codec.decodeFromWire(0, buf)).isEqualTo(value);
  }

  @Test
  void selectorPicksTheCodecOnlyForProtobufBodies() {
    assertThat(ProtobufCodec.selectCodec(UpdateRequest.getDefaultInstance()))
        .isEqualTo(ProtobufCodec.NAME);
    assertThat(ProtobufCodec.selectCodec("text")).isNull();
    assertThat(ProtobufCodec.options().getCodecName()).isEqualTo(ProtobufCodec.NAME);
    assertThat(ProtobufCodec.options(250).getSendTimeout()).isEqualTo(250);
    assertThatThrownBy(() -> ProtobufCodec.options(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("was 0");
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void localDeliveryPassesTheSameMessageAndRepliesNeedNoOptions(Vertx vertx,
      VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    ProtobufCodec.register(vertx); // idempotent: must not throw

    UpdateRequest sent = UpdateRequest.newBuilder().setParticipantId("trainer-0")
        .setModelVersion(4).setGradients(Tensors.vector(new float[] {1f, 2f})).build();
    vertx.eventBus().<UpdateRequest>consumer(Addresses.PS_UPDATE_AND_FETCH, msg -> {
      ctx.verify(() -> assertThat(msg.body()).isSameAs(sent));
      float[] g = Tensors.toFloats(msg.body().getGradients());
      // Replied without DeliveryOptions: the codec selector must pick the protobuf codec.
      msg.reply(ModelReply.newBuilder().setModelVersion(msg.body().getModelVersion() + 1)
          .setParameters(Tensors.vector(new float[] {-g[0], -g[1]})).setRoundSize(1).build());
    }).completion()
        .compose(v -> vertx.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH, sent,
            ProtobufCodec.options()))
        .onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
          assertThat(reply.body().getModelVersion()).isEqualTo(5);
          assertThat(Tensors.toFloats(reply.body().getParameters())).containsExactly(-1f, -2f);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void failureCodesTravelBackToTheRequester(Vertx vertx, VertxTestContext ctx) {
    ProtobufCodec.register(vertx);
    vertx.eventBus().<UpdateRequest>consumer(Addresses.PS_UPDATE_AND_FETCH, msg -> {
      try {
        Tensors.requireShape("gradients", msg.body().getGradients(), 3);
        msg.reply(ModelReply.getDefaultInstance());
      } catch (IllegalArgumentException e) {
        msg.fail(FailureCode.SHAPE_MISMATCH.code(), e.getMessage());
      }
    }).completion()
        .compose(v -> vertx.eventBus().request(Addresses.PS_UPDATE_AND_FETCH,
            UpdateRequest.newBuilder().setGradients(Tensors.vector(new float[2])).build(),
            ProtobufCodec.options()))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertThat(err).isInstanceOf(ReplyException.class);
          ReplyException re = (ReplyException) err;
          assertThat(FailureCode.of(re.failureCode())).isEqualTo(FailureCode.SHAPE_MISMATCH);
          assertThat(re.getMessage()).isEqualTo("gradients has shape [2], expected [3]");
          ctx.completeNow();
        })));
  }

  @Test
  void registerRefusesNull() {
    assertThatThrownBy(() -> ProtobufCodec.register(null))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
