package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PsConfigTest {

  private static final ModelSpec MODEL = ModelSpec.mlp(4, 3, 2);

  @Test
  void theBuilderStartsFromTheTutorialsDefaults() {
    assertThat(PsConfig.builder(5, MODEL).build()).isEqualTo(PsConfig.of(5, MODEL))
        .isEqualTo(new PsConfig(5, List.of(), null, true, "cpu", MODEL, 0.001f, 0.9f, 0, -1, "127.0.0.1",
            CheckpointConfig.OFF, null, null));
  }

  @Test
  void eachSetterSetsItsComponentAndToBuilderKeepsThemAll() {
    CheckpointConfig checkpoints = new CheckpointConfig(Path.of("/tmp/c"), 5, 2);
    PsConfig c = PsConfig.builder(1, ModelSpec.replay(10)).trainers(3).model(MODEL).participants(List.of("a", "b", "c"))
        .maxWait(Duration.ofMillis(250)).runPartial(false).device("auto").lr(0.5f).momentum(0.1f).seed(9)
        .grpcPort(0).grpcHost("0.0.0.0").checkpoints(checkpoints).exportTo(Path.of("/tmp/m.safetensors"))
        .roundLog(Path.of("/tmp/rounds.log")).build();
    assertThat(c).isEqualTo(new PsConfig(3, List.of("a", "b", "c"), Duration.ofMillis(250), false, "auto", MODEL,
        0.5f, 0.1f, 9, 0, "0.0.0.0", checkpoints, Path.of("/tmp/m.safetensors"),
        Path.of("/tmp/rounds.log")));
    assertThat(c.toBuilder().build()).isEqualTo(c);
    assertThat(c.withSeed(4)).isEqualTo(c.toBuilder().seed(4).build());
    assertThat(c.withSeed(4).seed()).isEqualTo(4);
    assertThat(c.withGrpcPort(7000).grpcPort()).isEqualTo(7000);
    assertThat(c.withCheckpoints(CheckpointConfig.OFF).checkpoints()).isEqualTo(CheckpointConfig.OFF);
    assertThat(c.withParticipants("x", "y", "z").participants()).containsExactly("x", "y", "z");
  }

  @Test
  void buildValidatesNamingTheFlag() {
    assertThatThrownBy(() -> PsConfig.builder(0, MODEL).build()).hasMessageContaining("--trainers");
    assertThatThrownBy(() -> PsConfig.builder(1, null).build()).hasMessageContaining("--model");
    assertThatThrownBy(() -> PsConfig.builder(1, MODEL).momentum(1f).build()).hasMessageContaining("--momentum");
  }
}
