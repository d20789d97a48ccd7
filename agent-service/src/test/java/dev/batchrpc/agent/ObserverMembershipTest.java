package dev.batchrpc.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.runtime.RpcException;
import io.vertx.core.net.SocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Registrations, departures, returns and sit-outs, without a round or an event loop. */
class ObserverMembershipTest {

  private final ObserverMembership members = new ObserverMembership(List.of("a", "b", "c"));

  @Test
  void registrationsAreCountedOncePerObserver() {
    assertThat(members.register("b", "")).isEqualTo(1);
    assertThat(members.register("b", "")).isEqualTo(1);
    assertThat(members.register("a", "")).isEqualTo(2);
    assertThat(members.register("c", "")).isEqualTo(3);
    assertThat(members.live()).containsExactly("a", "b", "c");
  }

  @Test
  void anUnknownObserverIsRefusedNamingTheKnownOnes() {
    assertThatThrownBy(() -> members.register("ghost", ""))
        .isInstanceOf(RpcException.class)
        .satisfies(e -> assertThat(((RpcException) e).code()).isEqualTo(FailureCode.UNKNOWN_PARTICIPANT))
        .hasMessage("observer 'ghost' is not one of the agent's observers [a, b, c]");
    assertThatThrownBy(() -> members.requireKnown("ghost")).isInstanceOf(RpcException.class);
    members.requireKnown("c");
  }

  @Test
  void aGrpcEndpointIsKeptUntilTheObserverLeavesAndRegistersWithoutOne() {
    members.register("a", "10.0.0.7:50051");
    assertThat(members.grpcEndpoint("a")).isEqualTo(SocketAddress.inetSocketAddress(50051, "10.0.0.7"));
    assertThat(members.grpcEndpoint("b")).isNull();
    // registering again the same way is fine
    assertThat(members.register("a", "10.0.0.7:50051")).isEqualTo(1);
    members.depart("a");
    members.register("a", "");
    assertThat(members.grpcEndpoint("a")).isNull();
  }

  @Test
  void aRegistrationThatWouldReplaceALiveObserverIsADuplicateAndChangesNothing() {
    members.register("a", "");
    members.register("b", "10.0.0.7:50051");
    assertThatThrownBy(() -> members.register("a", "10.0.0.9:50051"))
        .isInstanceOf(RpcException.class)
        .satisfies(e -> assertThat(((RpcException) e).code()).isEqualTo(FailureCode.DUPLICATE))
        .hasMessageContaining("observer 'a' is live on the event bus; a registration over gRPC at 10.0.0.9:50051");
    assertThatThrownBy(() -> members.register("b", ""))
        .satisfies(e -> assertThat(((RpcException) e).code()).isEqualTo(FailureCode.DUPLICATE))
        .hasMessageContaining("is live over gRPC at 10.0.0.7:50051; a registration on the event bus");
    assertThat(members.grpcEndpoint("a")).isNull();
    assertThat(members.grpcEndpoint("b")).isEqualTo(SocketAddress.inetSocketAddress(50051, "10.0.0.7"));
    // once gone, the id is free for whoever registers next
    members.depart("a");
    assertThat(members.register("a", "10.0.0.9:50051")).isEqualTo(2);
  }

  @ParameterizedTest
  @ValueSource(strings = {"no-port", ":50051", "host:", "host:x", "host:0", "host:65536"})
  void aBadEndpointIsABadRequestAndRegistersNothing(String endpoint) {
    assertThatThrownBy(() -> members.register("a", endpoint))
        .isInstanceOf(RpcException.class)
        .satisfies(e -> assertThat(((RpcException) e).code()).isEqualTo(FailureCode.BAD_REQUEST))
        .hasMessageContaining("grpc_endpoint").hasMessageContaining("'" + endpoint + "'");
    assertThat(members.register("b", "")).as("a was not counted").isEqualTo(1);
    assertThat(members.grpcEndpoint("a")).isNull();
  }

  @Test
  void aDepartedObserverIsOutOfLaterEpisodesUntilItRegistersAndThenSitsOutOnce() {
    members.register("a", "");
    members.register("b", "");
    assertThat(members.depart("b")).isTrue();
    assertThat(members.depart("b")).as("gone already").isFalse();
    assertThat(members.departed()).containsExactly("b");
    assertThat(members.live()).containsExactly("a", "c");
    assertThat(members.register("a", "")).as("b no longer counts").isEqualTo(1);

    // back: registered and live again, but out of the episode that runs until the next starts
    assertThat(members.register("b", "")).isEqualTo(2);
    assertThat(members.departed()).isEmpty();
    assertThat(members.live()).containsExactly("a", "b", "c");
    assertThat(members.endSitOuts()).containsExactly("b");
    assertThat(members.endSitOuts()).isEmpty();
  }

  @Test
  void aSitOutLastsUntilTheNextEpisode() {
    assertThat(members.sitOut("c")).isTrue();
    assertThat(members.sitOut("c")).isFalse();
    assertThat(members.live()).as("sitting out is not leaving").containsExactly("a", "b", "c");
    assertThat(members.endSitOuts()).containsExactly("c");
    assertThat(members.sitOut("c")).isTrue();
  }
}
