package dev.batchrpc.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.ops.Readiness;
import io.vertx.core.Future;
import java.util.ArrayDeque;
import java.util.Deque;
import org.junit.jupiter.api.Test;

/** A trainer's readiness follows its calls: DOWN with the reason while it is out of the rounds. */
class ReadinessPsClientTest {

  /** Answers each call with the next scripted outcome. */
  private static final class Scripted implements PsClient {
    final Deque<Future<ModelReply>> outcomes = new ArrayDeque<>();

    @Override
    public Future<ModelReply> getModel(String participantId) {
      return outcomes.pop();
    }

    @Override
    public Future<ModelReply> updateAndFetch(UpdateRequest request) {
      return outcomes.pop();
    }

    @Override
    public Future<Void> leave(String participantId) {
      return Future.succeededFuture();
    }
  }

  @Test
  void downWithTheReasonFromAFailedCallUntilTheNextAnswer() {
    Readiness readiness = new Readiness().require("model").require(ReadinessPsClient.CONDITION);
    readiness.set("model", true);
    Scripted server = new Scripted();
    PsClient client = new ReadinessPsClient(server, readiness);
    ModelReply reply = ModelReply.newBuilder().setModelVersion(7).build();

    server.outcomes.add(Future.succeededFuture(reply));
    assertThat(client.getModel("t").result()).isSameAs(reply);
    assertThat(readiness.isReady()).isTrue();

    server.outcomes.add(Future.failedFuture(new RpcException(FailureCode.UNAVAILABLE,
        "the parameter server's node n1 left the cluster; the call will not be answered")));
    assertThat(client.updateAndFetch(UpdateRequest.getDefaultInstance()).failed()).isTrue();
    assertThat(readiness.isReady()).isFalse();
    assertThat(readiness.reasons().get(ReadinessPsClient.CONDITION))
        .startsWith("not in the parameter server's rounds: UNAVAILABLE")
        .contains("left the cluster").contains("--retry-timeout-s");

    server.outcomes.add(Future.failedFuture(new RpcException(FailureCode.UNKNOWN_PARTICIPANT, "left the rounds")));
    client.updateAndFetch(UpdateRequest.getDefaultInstance());
    assertThat(readiness.reasons().get(ReadinessPsClient.CONDITION)).contains("UNKNOWN_PARTICIPANT");

    server.outcomes.add(Future.succeededFuture(reply));
    client.getModel("t");
    assertThat(readiness.isReady()).as("back in the rounds").isTrue();
    assertThat(readiness.reasons()).isEmpty();

    client.leave("t");
    assertThat(readiness.isReady()).as("done: no longer in the rounds").isFalse();
  }
}
