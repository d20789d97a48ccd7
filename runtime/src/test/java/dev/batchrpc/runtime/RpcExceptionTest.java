package dev.batchrpc.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(VertxExtension.class)
class RpcExceptionTest {

  @Test
  void mapsPlainFailuresToCodes() {
    RpcException refused = new RpcException(FailureCode.NON_FINITE, "gradient 3 has NaN");
    assertThat(RpcException.of(new CompletionException(refused))).isSameAs(refused);
    assertThat(refused.grpcStatus()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);

    RpcException bad = RpcException.of(new IllegalArgumentException("expected 10 floats, got 9"));
    assertThat(bad.code()).isEqualTo(FailureCode.BAD_REQUEST);
    assertThat(bad).hasMessage("expected 10 floats, got 9");

    RpcException internal = RpcException.of(new IllegalStateException("cublas status 13"));
    assertThat(internal.code()).isEqualTo(FailureCode.BATCH_FAILED);
    assertThat(internal.grpcStatus()).isEqualTo(GrpcStatus.INTERNAL);
    assertThat(internal).hasMessage("java.lang.IllegalStateException: cublas status 13")
        .hasCauseInstanceOf(IllegalStateException.class);
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void codeAndTextSurviveAnEventBusReply(Vertx vertx, VertxTestContext ctx) {
    vertx.eventBus().<String>consumer("test.refuse", m ->
            RpcException.replyFailure(m, new RpcException(FailureCode.DUPLICATE, "p1 already in round 4")))
        .completion()
        .compose(v -> vertx.eventBus().request("test.refuse", "x"))
        .onComplete(ctx.failing(e -> ctx.verify(() -> {
          RpcException mapped = RpcException.of(e);
          assertThat(mapped.code()).isEqualTo(FailureCode.DUPLICATE);
          assertThat(mapped).hasMessage("p1 already in round 4");
          assertThat(mapped.grpcStatus()).isEqualTo(GrpcStatus.FAILED_PRECONDITION);
          ctx.completeNow();
        })));
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.SECONDS)
  void missingHandlerIsUnavailable(Vertx vertx, VertxTestContext ctx) {
    Future<Message<Object>> reply = vertx.eventBus().request("test.nobody", "x");
    reply.onComplete(ctx.failing(e -> ctx.verify(() -> {
      assertThat(RpcException.of(e).code()).isEqualTo(FailureCode.UNAVAILABLE);
      assertThat(RpcException.of(e)).hasMessageContaining("no_handlers");
      ctx.completeNow();
    })));
  }
}
