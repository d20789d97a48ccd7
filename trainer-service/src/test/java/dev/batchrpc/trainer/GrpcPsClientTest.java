package dev.batchrpc.trainer;

import static dev.batchrpc.trainer.TrainerTest.LAYERS;
import static dev.batchrpc.trainer.TrainerTest.reference;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.Fixtures;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@code trainer --ps-grpc}: a trainer over gRPC in the same rounds as one over the event bus. */
@ExtendWith(VertxExtension.class)
class GrpcPsClientTest {

  private static Future<ParameterServerVerticle> deploy(Vertx vertx, PsConfig config) {
    ProtobufCodec.register(vertx);
    ParameterServerVerticle v = new ParameterServerVerticle(config, null);
    return vertx.deployVerticle(v).map(id -> v);
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void aGrpcTrainerAndAnEventBusTrainerShareTheRoundsAndEndOnTheReferenceModel(Vertx vertx, VertxTestContext ctx) {
    int rounds = 6;
    PsConfig config = TrainerTest.psConfig(2).withParticipants("bus", "grpc").withGrpcPort(0);
    deploy(vertx, config).compose(ps -> {
      PsClient grpc = PsClient.grpc(vertx, SocketAddress.inetSocketAddress(ps.grpcPort(), "127.0.0.1"),
          config.grpcMaxMessageBytes(), 10_000);
      Future<Trainer.Summary> a = new Trainer(vertx, PsClient.eventBus(vertx, 10_000), "bus",
          new ClassificationTask("synthetic", LAYERS, 20, 11, "bus"), rounds, null).run();
      Future<Trainer.Summary> b = new Trainer(vertx, grpc, "grpc",
          new ClassificationTask("synthetic", LAYERS, 20, 11, "grpc"), rounds, null).run();
      return Future.all(a, b).compose(all -> ps.server().compose(s -> s.parameters()).map(params -> {
        ctx.verify(() -> {
          assertThat(((Trainer.Summary) all.resultAt(0)).finalVersion()).isEqualTo(rounds);
          assertThat(((Trainer.Summary) all.resultAt(1)).finalVersion()).isEqualTo(rounds);
          Fixtures.assertClose("parameters after " + rounds + " rounds", params,
              reference(config, List.of("bus", "grpc"), rounds, 20, 11), 1e-5, 1e-4);
        });
        return params;
      }));
    }).onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void refusalsKeepTheirCodeAndDetailsAndAnUnreachableServerIsUnavailable(Vertx vertx, VertxTestContext ctx) {
    PsConfig config = TrainerTest.psConfig(1).withParticipants("t").withGrpcPort(0);
    deploy(vertx, config).compose(ps -> {
      PsClient grpc = PsClient.grpc(vertx, SocketAddress.inetSocketAddress(ps.grpcPort(), "127.0.0.1"),
          config.grpcMaxMessageBytes(), 10_000);
      PsClient nowhere = PsClient.grpc(vertx, SocketAddress.inetSocketAddress(1, "127.0.0.1"), 1 << 20, 2_000);
      int p = config.model().parameterCount();
      Future<RpcException> future = failure(grpc.getModel("t").compose(m -> grpc.updateAndFetch(UpdateRequest
          .newBuilder().setParticipantId("t").setModelVersion(9).setGradients(Tensors.vector(new float[p])).build())));
      Future<RpcException> shape = failure(grpc.updateAndFetch(UpdateRequest.newBuilder().setParticipantId("t")
          .setGradients(Tensors.vector(new float[p + 1])).build()));
      Future<RpcException> gone = failure(nowhere.getModel("t"));
      return Future.all(future, shape, gone).map(all -> {
        ctx.verify(() -> {
          RpcException f = all.resultAt(0);
          assertThat(f.code()).isEqualTo(FailureCode.FUTURE_VERSION);
          assertThat(f.details()).containsEntry("request_version", "9").containsEntry("server_version", "0");
          assertThat(f).hasMessageContaining("future model version 9");
          assertThat(((RpcException) all.resultAt(1)).code()).isEqualTo(FailureCode.SHAPE_MISMATCH);
          assertThat(((RpcException) all.resultAt(2)).code()).isEqualTo(FailureCode.UNAVAILABLE);
        });
        return all;
      });
    }).onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  void theTrainerCommandJoinsOverGrpcWithPsGrpc(Vertx vertx, VertxTestContext ctx) {
    PsConfig config = TrainerTest.psConfig(1).withGrpcPort(0);
    deploy(vertx, config).compose(ps -> vertx.executeBlocking(() -> {
      try (dev.batchrpc.runtime.process.ChildJvm trainer = dev.batchrpc.runtime.process.ChildJvm.start("trainer",
          dev.batchrpc.runtime.process.ChildJvm.command(TrainerCommand.class), List.of("--ps-grpc",
              "127.0.0.1:" + ps.grpcPort(), "--id", "cli", "--batches", "3", "--layers", "16,32,4",
              "--metrics-port", "-1"), java.util.Map.of())) {
        int exit = trainer.awaitExit(90_000);
        return exit + "\n" + trainer.output();
      }
    })).onComplete(ctx.succeeding(out -> ctx.verify(() -> {
      assertThat(out).startsWith("0\n").contains("trainer cli: done: 3 rounds").contains("model v3");
      ctx.completeNow();
    })));
  }

  @Test
  void aPsGrpcThatIsNotHostAndPortIsABadFlag() {
    for (String bad : List.of("nohost", "host:", "host:0", "host:70000", "host:x")) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> TrainerCommand.parseHostPort(bad))
          .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--ps-grpc")
          .hasMessageContaining("'" + bad + "'");
    }
    assertThat(TrainerCommand.parseHostPort("10.0.0.1:50051")).isEqualTo(SocketAddress.inetSocketAddress(50051, "10.0.0.1"));
  }

  private static Future<RpcException> failure(Future<?> f) {
    return f.transform(ar -> ar.succeeded() ? Future.failedFuture(new AssertionError("accepted: " + ar.result()))
        : ar.cause() instanceof RpcException e ? Future.succeededFuture(e)
        : Future.failedFuture(new AssertionError("not an RpcException", ar.cause())));
  }
}
