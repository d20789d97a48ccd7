package dev.batchrpc.proto;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The codec across a real cluster: two Hazelcast-clustered Vert.x nodes in this JVM talk over
 * TCP on 127.0.0.1, so every payload is encoded to the wire and decoded on the other side.
 */
@ExtendWith(VertxExtension.class)
class ProtobufCodecClusterTest {

  private static final float LR = 0.1f;

  private final List<Vertx> nodes = new ArrayList<>();

  @AfterEach
  void closeNodes() throws Exception {
    // Last started first, so the remaining member does not chase a departed one.
    for (int i = nodes.size() - 1; i >= 0; i--) {
      await(nodes.get(i).close());
    }
  }

  /** Bounded wait on the test thread (never an event loop), so a failed join cannot hang a run. */
  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  @Test
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void updateRequestCrossesTheClusterAndModelReplyComesBack(VertxTestContext ctx)
      throws Exception {
    LoopbackCluster cluster = new LoopbackCluster();
    int n = 1 << 20;
    float[] grads = new float[n];
    Random rnd = new Random(11);
    for (int i = 0; i < n; i++) {
      grads[i] = (float) rnd.nextGaussian();
    }
    UpdateRequest request = UpdateRequest.newBuilder().setParticipantId("trainer-1")
        .setModelVersion(41).setGradients(Tensors.vector(grads)).build();

    // One after the other: the second node joins the first.
    Vertx ps = await(cluster.startNode());
    nodes.add(ps);
    Vertx client = await(cluster.startNode());
    nodes.add(client);

    AtomicReference<UpdateRequest> received = new AtomicReference<>();
    // The consumer plays a one-trainer parameter server: p = -lr * g.
    ps.eventBus().<UpdateRequest>consumer(Addresses.PS_UPDATE_AND_FETCH, msg -> {
      received.set(msg.body());
      UpdateRequest body = msg.body();
      if (!Addresses.isValidId(body.getParticipantId())) {
        msg.fail(FailureCode.BAD_REQUEST.code(), "bad id " + body.getParticipantId());
        return;
      }
      float[] g;
      try {
        g = Tensors.toFloats(body.getGradients());
        Tensors.requireShape("gradients", body.getGradients(), n);
      } catch (IllegalArgumentException e) {
        msg.fail(FailureCode.SHAPE_MISMATCH.code(), e.getMessage());
        return;
      }
      float[] p = new float[g.length];
      for (int i = 0; i < g.length; i++) {
        p[i] = -LR * g[i];
      }
      // No DeliveryOptions: the codec selector registered on this node picks the codec.
      msg.reply(ModelReply.newBuilder().setModelVersion(body.getModelVersion() + 1)
          .setParameters(Tensors.vector(p)).setRoundSize(1).build());
    }).completion()
        .compose(v -> client.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH, request,
            ProtobufCodec.options(30_000)))
        .compose(reply -> {
          // An AssertionError thrown here fails the chain and is reported as is below.
          // Decoded from the wire on the other node: equal, but not the sender's object.
          assertThat(received.get()).isNotSameAs(request).isEqualTo(request);
          assertModelIsStepOf(reply.body(), grads);
          // A refusal crosses the cluster with its failure code and text.
          return client.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH,
              UpdateRequest.newBuilder().setParticipantId("trainer-1")
                  .setGradients(Tensors.vector(new float[3])).build(),
              ProtobufCodec.options(30_000));
        })
        .onComplete(ar -> {
          if (ar.succeeded()) {
            ctx.failNow("an update with 3 gradients instead of " + n + " was accepted");
          } else if (!(ar.cause() instanceof ReplyException)) {
            ctx.failNow(ar.cause());
          } else {
            ctx.verify(() -> {
              ReplyException err = (ReplyException) ar.cause();
              assertThat(FailureCode.of(err.failureCode())).isEqualTo(FailureCode.SHAPE_MISMATCH);
              assertThat(err.getMessage()).contains("[3]").contains("[" + n + "]");
              ctx.completeNow();
            });
          }
        });
  }

  private static void assertModelIsStepOf(ModelReply model, float[] grads) {
    assertThat(model.getModelVersion()).isEqualTo(42);
    assertThat(model.getRoundSize()).isEqualTo(1);
    float[] p = Tensors.toFloats(model.getParameters());
    assertThat(p).hasSameSizeAs(grads);
    // A plain loop: AssertJ's array diff is quadratic on a million elements.
    for (int i = 0; i < grads.length; i++) {
      if (p[i] != -LR * grads[i]) {
        throw new AssertionError("parameter " + i + " is " + p[i] + ", expected "
            + (-LR * grads[i]));
      }
    }
  }
}
