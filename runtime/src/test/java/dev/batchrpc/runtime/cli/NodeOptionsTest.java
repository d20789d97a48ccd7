package dev.batchrpc.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.runtime.node.NodeConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

class NodeOptionsTest {

  @Command(name = "svc")
  static final class Svc {
    @Mixin
    NodeOptions node;
  }

  private static NodeConfig parse(String... args) {
    Svc svc = new Svc();
    new CommandLine(svc).parseArgs(args);
    return svc.node.toConfig();
  }

  @Test
  void withoutFlagsTheNodeIsLocal() {
    // CI sets no BATCHRPC_* variables, so the annotated defaults apply.
    assertThat(parse()).isEqualTo(NodeConfig.local());
  }

  @Test
  void flagsBuildTheClusteredConfig() {
    NodeConfig c = parse("--clustered", "--cluster-name=c7", "--cluster-members", "10.0.0.1:5701, 10.0.0.2",
        "--cluster-host", "10.0.0.9", "--cluster-port", "6000", "--event-bus-port", "6100",
        "--public-host", "ps.example", "--public-port", "7000");
    assertThat(c.clustered()).isTrue();
    assertThat(c.clusterName()).isEqualTo("c7");
    assertThat(c.clusterMembers()).containsExactly("10.0.0.1:5701", "10.0.0.2");
    assertThat(c.clusterHost()).isEqualTo("10.0.0.9");
    assertThat(c.clusterPort()).isEqualTo(6000);
    assertThat(c.eventBusPort()).isEqualTo(6100);
    assertThat(c.publicHost()).isEqualTo("ps.example");
    assertThat(c.publicPort()).isEqualTo(7000);
    assertThat(parse("--clustered=false").clustered()).isFalse();
  }

  @Test
  void invalidValuesNameTheirFlag() {
    assertThatThrownBy(() -> parse("--cluster-port", "70000"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-port");
    assertThatThrownBy(() -> parse("--cluster-port", "many"))
        .isInstanceOf(CommandLine.ParameterException.class).hasMessageContaining("--cluster-port");
    assertThatThrownBy(() -> parse("--event-bus-port", "-2"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--event-bus-port");
    assertThatThrownBy(() -> parse("--cluster-members", "10.0.0.1:0"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-members");
    assertThatThrownBy(() -> parse("--cluster-name", "has space"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-name");
    assertThatThrownBy(() -> parse("--cluster-host", "a/b"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--cluster-host");
    assertThatThrownBy(() -> parse("--public-port", "0"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--public-port");
    assertThatThrownBy(() -> parse("--clustered=maybe"))
        .isInstanceOf(CommandLine.ParameterException.class).hasMessageContaining("--clustered");
  }
}
