package dev.batchrpc.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.runtime.net.Certificates;
import dev.batchrpc.runtime.node.NodeConfig;
import io.vertx.core.http.ClientAuth;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
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
    assertThat(c.spinUs()).isZero();
    assertThat(parse("--clustered=false").clustered()).isFalse();
    assertThat(parse("--spin-us", "300").spinUs()).isEqualTo(300);
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
    assertThatThrownBy(() -> parse("--spin-us", "10001"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--spin-us").hasMessageContaining("10001");
    assertThatThrownBy(() -> parse("--spin-us", "-1"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--spin-us");
    assertThatThrownBy(() -> parse("--clustered=maybe"))
        .isInstanceOf(CommandLine.ParameterException.class).hasMessageContaining("--clustered");
  }

  @Test
  void tlsNeedsAllThreeReadablePemFiles(@TempDir Path dir) throws Exception {
    Certificates.write(dir, List.of("n"), Certificates.DEFAULT_HOSTS, 1);
    String cert = dir.resolve("n.pem").toString();
    String key = dir.resolve("n-key.pem").toString();
    String ca = dir.resolve("ca.pem").toString();

    NodeConfig c = parse("--tls-cert", cert, "--tls-key", key, "--tls-ca", ca);
    assertThat(c.tls().cert()).isEqualTo(Path.of(cert));
    assertThat(c.tls().key()).isEqualTo(Path.of(key));
    assertThat(c.tls().ca()).isEqualTo(Path.of(ca));
    assertThat(c.tls().grpcClientAuth()).isEqualTo(ClientAuth.REQUIRED);
    assertThat(parse("--tls-cert", cert, "--tls-key", key, "--tls-ca", ca, "--grpc-client-auth", "Request")
        .tls().grpcClientAuth()).isEqualTo(ClientAuth.REQUEST);
    assertThat(parse().tls()).isNull();

    assertThatThrownBy(() -> parse("--tls-cert", cert))
        .hasMessageContaining("missing --tls-key, --tls-ca");
    assertThatThrownBy(() -> parse("--tls-key", key, "--tls-ca", ca))
        .hasMessageContaining("missing --tls-cert");
    String nowhere = dir.resolve("nowhere.pem").toString();
    assertThatThrownBy(() -> parse("--tls-cert", cert, "--tls-key", key, "--tls-ca", nowhere))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--tls-ca").hasMessageContaining(nowhere);
    // A key where the certificate belongs, and the other way round.
    assertThatThrownBy(() -> parse("--tls-cert", key, "--tls-key", key, "--tls-ca", ca))
        .hasMessageContaining("--tls-cert").hasMessageContaining("CERTIFICATE");
    assertThatThrownBy(() -> parse("--tls-cert", cert, "--tls-key", cert, "--tls-ca", ca))
        .hasMessageContaining("--tls-key").hasMessageContaining("PRIVATE KEY");
    assertThatThrownBy(() -> parse("--tls-cert", cert, "--tls-key", key, "--tls-ca", dir.toString()))
        .hasMessageContaining("--tls-ca");
    assertThatThrownBy(() -> parse("--grpc-client-auth", "always"))
        .hasMessageContaining("--grpc-client-auth must be none, request or required");
  }
}
