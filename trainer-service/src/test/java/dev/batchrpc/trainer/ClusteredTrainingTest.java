package dev.batchrpc.trainer;

import static dev.batchrpc.runtime.net.Ports.freePort;
import static dev.batchrpc.runtime.testing.LoopbackNodes.LOOPBACK;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.ps.ModelSpec;
import dev.batchrpc.ps.ParameterServer;
import dev.batchrpc.ps.ParameterServerVerticle;
import dev.batchrpc.ps.PsConfig;
import dev.batchrpc.runtime.node.Node;
import dev.batchrpc.runtime.node.NodeConfig;
import dev.batchrpc.runtime.node.Nodes;
import dev.batchrpc.runtime.process.ChildJvm;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The parameter server and its trainers on separate Hazelcast-clustered Vert.x nodes (127.0.0.1,
 * TCP/IP join, random cluster name): once as nodes of this JVM, once with the trainers as separate
 * OS processes running {@link TrainerCommand}.
 */
@ExtendWith({VertxExtension.class, LoopbackNodes.class})
class ClusteredTrainingTest {

  private static final int[] LAYERS = {16, 32, 4};
  private final List<Node> nodes = new ArrayList<>();
  private final List<Process> processes = new ArrayList<>();

  @AfterEach
  void stopEverything() throws Exception {
    for (Process p : processes) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    LoopbackNodes.closeAll(nodes);
  }

  private Future<Node> start(NodeConfig config) {
    return Nodes.start(config).onSuccess(nodes::add);
  }

  private static PsConfig psConfig(int trainers) {
    return PsConfig.builder(trainers, ModelSpec.mlp(LAYERS)).lr(0.05f).seed(1).grpcHost(LOOPBACK).build();
  }

  private static Future<ParameterServer> deployPs(Node node, int trainers) {
    ParameterServerVerticle v = new ParameterServerVerticle(psConfig(trainers), node.registry());
    return node.vertx().deployVerticle(v).compose(id -> v.server());
  }

  @Test
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void trainersOnOtherNodesCompleteEveryRound(VertxTestContext ctx) throws IOException {
    String cluster = LoopbackNodes.clusterName("test");
    int psPort = freePort();
    String seed = LoopbackNodes.member(psPort);
    int rounds = 8;
    int[] ports = {freePort(), freePort(), freePort()};
    start(NodeConfig.clustered(cluster, LOOPBACK, psPort, List.of()))
        .compose(psNode -> deployPs(psNode, 3))
        .compose(ps -> Future.all(List.of(
            start(NodeConfig.clustered(cluster, LOOPBACK, ports[0], List.of(seed))),
            start(NodeConfig.clustered(cluster, LOOPBACK, ports[1], List.of(seed))),
            start(NodeConfig.clustered(cluster, LOOPBACK, ports[2], List.of(seed))))).compose(all -> {
              List<Future<Trainer.Summary>> runs = new ArrayList<>();
              for (int i = 0; i < 3; i++) {
                Node n = all.resultAt(i);
                String id = "node-trainer-" + i;
                PsClient client = PsClient.eventBus(n.vertx(), 20_000);
                runs.add(TrainerCommand.waitForServer(n.vertx(), client, id, System.nanoTime() + 20_000_000_000L)
                    .compose(v -> new Trainer(n.vertx(), client, id,
                        new ClassificationTask("synthetic", LAYERS, 10, 5, id), rounds, null).run()));
              }
              return Future.all(runs);
            }).map(all -> {
              ctx.verify(() -> {
                assertThat(ps.version()).isEqualTo(rounds);
                for (int i = 0; i < 3; i++) {
                  Trainer.Summary s = all.resultAt(i);
                  assertThat(s.finalVersion()).isEqualTo(rounds);
                }
              });
              return ps;
            }))
        .onComplete(ctx.succeedingThenComplete());
  }

  @Test
  @Timeout(value = 150, timeUnit = TimeUnit.SECONDS)
  void trainersAsSeparateProcessesCompleteEveryRound(VertxTestContext ctx) throws IOException {
    String cluster = LoopbackNodes.clusterName("test");
    int psPort = freePort();
    int rounds = 6;
    Promise<Long> finished = Promise.promise();
    start(NodeConfig.clustered(cluster, LOOPBACK, psPort, List.of()))
        .compose(psNode -> deployPs(psNode, 2))
        .compose(ps -> {
          ps.onRound(v -> {
            if (v == rounds) {
              finished.tryComplete(v);
            }
          });
          try {
            for (int i = 0; i < 2; i++) {
              processes.add(spawnTrainer(cluster, LoopbackNodes.member(psPort), "proc-trainer-" + i, rounds));
            }
          } catch (IOException e) {
            return Future.failedFuture(e);
          }
          return finished.future();
        })
        .compose(v -> {
          // each process exits 0 once its last round's model arrived
          Promise<Void> exited = Promise.promise();
          new Thread(() -> {
            try {
              for (Process p : processes) {
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                  exited.tryFail("trainer process did not exit cleanly: " + p.info());
                  return;
                }
              }
              exited.tryComplete();
            } catch (InterruptedException e) {
              exited.tryFail(e);
            }
          }, "wait-trainers").start();
          return exited.future();
        })
        .onComplete(ctx.succeedingThenComplete());
  }

  private static Process spawnTrainer(String cluster, String seedMember, String id, int rounds)
      throws IOException {
    List<String> cmd = new ArrayList<>(ChildJvm.command(TrainerCommand.class, "-D" + LoopbackNodes.JOIN_PAUSE + "=0"));
    cmd.addAll(List.of("--clustered", "--cluster-name", cluster, "--cluster-members", seedMember,
        "--cluster-host", LOOPBACK, "--cluster-port", String.valueOf(freePort()),
        "--id", id, "--batches", String.valueOf(rounds), "--batch-size", "10", "--layers", "16,32,4",
        "--seed", "5", "--timeout-ms", "30000", "--progress-every", "0"));
    return new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(new File(System.getProperty("java.io.tmpdir"), "batchrpc-" + id + ".log"))
        .start();
  }
}
