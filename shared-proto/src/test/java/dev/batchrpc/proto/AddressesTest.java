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
        Addresses.PS_DATA_ENDPOINT, Addresses.PS_LEAVE, Addresses.AGENT_SELECT_ACTION, Addresses.AGENT_EPISODE_REPORT,
        Addresses.AGENT_REGISTER, Addresses.AGENT_LEAVE, Addresses.AGENT_STARTED})
        .doesNotHaveDuplicates()
        .allSatisfy(a -> assertThat(a).matches("[a-z]+\\.[a-z-]+"));
  }

  @Test
  void defaultObserverIdsAreValidIdsAndANegativeIndexIsRefused() {
    assertThat(Addresses.defaultObserverId(0)).isEqualTo("observer-0");
    assertThat(Addresses.defaultObserverId(41)).isEqualTo("observer-41");
    assertThat(Addresses.isValidId(Addresses.defaultObserverId(Integer.MAX_VALUE))).isTrue();
    assertThatThrownBy(() -> Addresses.defaultObserverId(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be >= 0, got -1");
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
