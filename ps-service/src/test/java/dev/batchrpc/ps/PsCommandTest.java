package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Backends;
import dev.batchrpc.runtime.cli.DeviceOption;
import dev.batchrpc.runtime.cli.EnvDefaults;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code batch-rpc ps}'s flags and variables make the {@link PsConfig} they say. */
class PsCommandTest {

  private static PsConfig parse(Map<String, String> env, String... args) {
    PsCommand command = new PsCommand();
    new CommandLine(command).setDefaultValueProvider(new EnvDefaults(env::get)).parseArgs(args);
    return command.toConfig();
  }

  @Test
  void withoutFlagsTheDefaultsOfTheHelpApply() {
    PsConfig c = parse(Map.of());
    assertThat(c.trainers()).isEqualTo(5);
    assertThat(c.participants()).isEmpty();
    assertThat(c.maxWait()).isEqualTo(Duration.ofMillis(60000));
    assertThat(c.runPartial()).isTrue();
    assertThat(c.device()).isEqualTo("auto");
    assertThat(c.model().toString()).isEqualTo(ModelSpec.mlp(784, 256, 10).toString());
    assertThat(c.lr()).isEqualTo(0.001f);
    assertThat(c.momentum()).isEqualTo(0.9f);
    assertThat(c.seed()).isZero();
    assertThat(c.grpcPort()).isEqualTo(-1);
    assertThat(c.grpcHost()).isEqualTo("127.0.0.1");
    assertThat(c.checkpoints()).isEqualTo(CheckpointConfig.OFF);
  }

  @Test
  void everyFlagLandsInItsField() {
    PsConfig c = parse(Map.of(), "--trainers", "3", "--participants", "a, b,c", "--max-wait-ms", "0",
        "--partial-policy", "fail", "--device", "cpu", "--model", "replay", "--replay-params", "1000",
        "--lr", "0.5", "--momentum", "0", "--seed", "7", "--grpc-port", "0", "--grpc-host", "0.0.0.0",
        "--checkpoint-dir", " /tmp/ckpt ", "--checkpoint-every", "5", "--checkpoint-keep", "2");
    // The model compares by what it is (a spec also holds the unused --layers of a replay model).
    assertThat(c).usingRecursiveComparison().ignoringFields("model").isEqualTo(
        PsConfig.builder(3, ModelSpec.replay(1000)).participants(List.of("a", "b", "c")).maxWait(null)
            .runPartial(false).device("cpu").lr(0.5f).momentum(0f).seed(7).grpcPort(0).grpcHost("0.0.0.0")
            .checkpoints(new CheckpointConfig(Path.of("/tmp/ckpt"), 5, 2)).build());
    assertThat(c.model().toString()).isEqualTo(ModelSpec.replay(1000).toString());
  }

  @Test
  void theVariablesAreTheFlagsInUpperCaseAndTheFlagWins() {
    Map<String, String> env = Map.of("BATCHRPC_TRAINERS", "4", "BATCHRPC_GRPC_PORT", "7000",
        "BATCHRPC_DEVICE", "cpu", "BATCHRPC_CHECKPOINT_DIR", "/var/ckpt", "BATCHRPC_MAX_WAIT_MS", "250");
    PsConfig c = parse(env);
    assertThat(c.trainers()).isEqualTo(4);
    assertThat(c.grpcPort()).isEqualTo(7000);
    assertThat(c.device()).isEqualTo("cpu");
    assertThat(c.checkpoints().dir()).isEqualTo(Path.of("/var/ckpt"));
    assertThat(c.maxWait()).isEqualTo(Duration.ofMillis(250));
    assertThat(parse(env, "--trainers", "2", "--grpc-port", "-1").trainers()).isEqualTo(2);
  }

  @Test
  void initFromReadsAUsersModelAndEveryFileProblemNamesTheFlag(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path file = dir.resolve("m.safetensors");
    dev.batchrpc.ps.model.TensorLayout layout = dev.batchrpc.ps.model.TensorLayout.mlp(3, 2);
    dev.batchrpc.ps.model.Safetensors.write(file, layout, java.nio.FloatBuffer.wrap(new float[8]), Map.of());
    PsConfig c = parse(Map.of(), "--init-from", file.toString(), "--export", dir.resolve("out.safetensors").toString());
    assertThat(c.model().layout()).isEqualTo(layout);
    assertThat(c.model().kind()).isEqualTo("safetensors");
    assertThat(c.exportTo()).isEqualTo(dir.resolve("out.safetensors"));
    // the variable works as every other one
    assertThat(parse(Map.of("BATCHRPC_INIT_FROM", file.toString())).model().layout()).isEqualTo(layout);
    java.nio.file.Files.write(dir.resolve("short.safetensors"), new byte[] {1, 2, 3});
    assertThatThrownBy(() -> parse(Map.of(), "--init-from", dir.resolve("short.safetensors").toString()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--init-from")
        .hasMessageContaining("fewer than the 8 of the header length");
    assertThatThrownBy(() -> parse(Map.of(), "--init-from", dir.resolve("missing.safetensors").toString()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--init-from")
        .hasMessageContaining("cannot read it");
    assertThatThrownBy(() -> parse(Map.of(), "--export", dir.resolve("no/such/dir/m.safetensors").toString()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--export")
        .hasMessageContaining("directory does not exist");
  }

  @Test
  void modelInitWaitsForAClientsModelUpToMaxParams(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    PsConfig c = parse(Map.of(), "--model", "init", "--max-params", "1000");
    assertThat(c.model().awaitsInit()).isTrue();
    assertThat(c.model().layout()).isNull();
    assertThat(c.model().maxParameterCount()).isEqualTo(1000);
    assertThat(c.grpcMaxMessageBytes()).as("an InitModel of 1000 floats fits").isEqualTo(4000 + (1 << 20));
    assertThat(parse(Map.of("BATCHRPC_MODEL", "init")).model().maxParameterCount()).isEqualTo(25_000_000);
    assertThatThrownBy(() -> parse(Map.of(), "--model", "init", "--max-params", "0"))
        .hasMessageContaining("--max-params must be in [1, ");
    java.nio.file.Path file = dir.resolve("m.safetensors");
    dev.batchrpc.ps.model.Safetensors.write(file, dev.batchrpc.ps.model.TensorLayout.flat(2),
        java.nio.FloatBuffer.wrap(new float[2]), Map.of());
    assertThatThrownBy(() -> parse(Map.of(), "--model", "init", "--init-from", file.toString()))
        .hasMessageContaining("--model init and --init-from exclude each other");
    assertThatThrownBy(() -> parse(Map.of(), "--model", "cnn")).hasMessageContaining("--model must be mlp, replay or init");
  }

  @Test
  void anUnknownDeviceIsABadFlagAndTheValuesAreTheBackends() {
    assertThatThrownBy(() -> parse(Map.of(), "--device", "tpu"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--device").hasMessageContaining("tpu");
    assertThat(parse(Map.of(), "--device", " CUDA ").device()).isEqualTo(" CUDA ");
    assertThat(String.join(", ", DeviceOption.VALUES)).isEqualTo(Backends.ALLOWED);
  }
}
