package dev.batchrpc.ps;

import static dev.batchrpc.ps.ParameterServerVerticleTest.get;
import static dev.batchrpc.ps.ParameterServerVerticleTest.gradient;
import static dev.batchrpc.ps.ParameterServerVerticleTest.send;
import static dev.batchrpc.ps.ParameterServerVerticleTest.update;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.proto.ProtobufCodec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, row 8: checkpoints that fail (here the directory replaced by a file: root ignores
 * permissions) make the server say so: {@code ps.checkpoint.lag.versions} grows past
 * {@code --checkpoint-every}, {@link ParameterServer#checkpointDegradation()} (what
 * {@code /health/ready} reports as DEGRADED) names the failure; once writes succeed again both
 * recover. Training goes on throughout.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CheckpointDegradedTest {

  private static final ModelSpec MODEL = ModelSpec.replay(1000);
  private static final int EVERY = 2;

  @TempDir
  Path tmp;

  private Vertx vertx;

  @AfterEach
  void stop() throws Exception {
    if (vertx != null) {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
  }

  private long round(long version) throws Exception {
    return send(vertx, update("t", version, gradient(0, (int) version))).await(10, TimeUnit.SECONDS)
        .getModelVersion();
  }

  @Test
  void failingCheckpointsShowAsLagAndDegradationAndRecover() throws Exception {
    vertx = Vertx.vertx();
    ProtobufCodec.register(vertx);
    Path dir = tmp.resolve("ckpt");
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    ParameterServerVerticle v = new ParameterServerVerticle(
        PsConfig.of(1, MODEL).withCheckpoints(new CheckpointConfig(dir, EVERY, 3)), meters);
    vertx.deployVerticle(v).await(30, TimeUnit.SECONDS);
    ParameterServer ps = v.server().await(10, TimeUnit.SECONDS);
    long version = get(vertx, "t").await(10, TimeUnit.SECONDS).getModelVersion();
    for (int i = 0; i < 4; i++) {
      version = round(version);
    }
    // Version 4's checkpoint is written behind the rounds: wait until it is on disk.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (meters.get("ps.checkpoint.version").gauge().value() < 4 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(ps.checkpointDegradation()).isNull();
    assertThat(meters.get("ps.checkpoint.lag.versions").gauge().value()).isZero();

    // The disk goes away: the directory is now a file, every write fails.
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
    Files.writeString(dir, "not a directory");
    for (int i = 0; i < 4 * EVERY; i++) {
      version = round(version);
    }
    String degraded = ps.checkpointDegradation();
    assertThat(degraded).as("degraded once the bound is gone").isNotNull()
        .contains("newest durable checkpoint is version 4").contains("--checkpoint-every 2")
        .contains("last failure");
    assertThat(meters.get("ps.checkpoint.lag.versions").gauge().value()).isEqualTo(version - 4.0)
        .isGreaterThan(EVERY);
    assertThat(meters.get("ps.checkpoint.degraded").gauge().value()).isEqualTo(1.0);
    assertThat(meters.get("ps.checkpoints").tag("outcome", "failed").counter().count()).isPositive();
    assertThat(ps.version()).as("training went on").isEqualTo(version);

    // The disk is back: the next due checkpoint is written and the degradation clears.
    Files.delete(dir);
    Files.createDirectories(dir);
    for (int i = 0; i < 2 * EVERY + 1; i++) {
      version = round(version);
    }
    long now = version;
    deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (ps.checkpointDegradation() != null && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(ps.checkpointDegradation()).isNull();
    assertThat(meters.get("ps.checkpoint.lag.versions").gauge().value()).isBetween(0.0, (double) EVERY);
    assertThat(meters.get("ps.checkpoint.degraded").gauge().value()).isZero();
    assertThat(ps.version()).isEqualTo(now);
  }
}
