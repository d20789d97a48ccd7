package dev.batchrpc.proto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AddressesTest {

  @Test
  void observerAddressEmbedsTheId() {
    assertThat(Addresses.observerRunEpisode("obs-1")).isEqualTo("observer.obs-1.run-episode");
    assertThat(Addresses.observerRunEpisode("a.B_9")).isEqualTo("observer.a.B_9.run-episode");
  }

  @Test
  void fixedAddressesAreDistinctAndDotted() {
    assertThat(new String[] {Addresses.PS_UPDATE_AND_FETCH, Addresses.PS_GET_MODEL,
        Addresses.AGENT_SELECT_ACTION, Addresses.AGENT_REGISTER})
        .doesNotHaveDuplicates()
        .allSatisfy(a -> assertThat(a).matches("[a-z]+\\.[a-z-]+"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "has space", "slash/", "star*", "ünï", "a,b"})
  void invalidIdsAreRefusedNamingTheId(String id) {
    assertThatThrownBy(() -> Addresses.observerRunEpisode(id))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("invalid id '" + id + "'");
    assertThat(Addresses.isValidId(id)).isFalse();
  }

  @Test
  void nullAndOverlongIdsAreRefused() {
    assertThatThrownBy(() -> Addresses.observerRunEpisode(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("invalid id null");
    String longId = "x".repeat(Addresses.MAX_ID_LENGTH + 1);
    assertThatThrownBy(() -> Addresses.requireValidId(longId))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining((Addresses.MAX_ID_LENGTH + 1) + " characters");
    assertThat(Addresses.isValidId("x".repeat(Addresses.MAX_ID_LENGTH))).isTrue();
  }
}
