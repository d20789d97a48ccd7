package dev.batchrpc.suite.agent;

import dev.batchrpc.agent.AgentConfig;
import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.agent.EpisodeResult;
import dev.batchrpc.observer.ActionSource;
import dev.batchrpc.observer.ObserverConfig;
import dev.batchrpc.observer.ObserverVerticle;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.SelectActionReply;
import dev.batchrpc.proto.v1.SelectActionRequest;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/** Test helpers: an agent and its observers in one Vert.x, with every exchange recorded. */
final class AgentRuns {

  /** One request and its reply, as an observer saw them. */
  record Exchange(SelectActionRequest request, SelectActionReply reply) {
  }

  /** What a run produced. */
  record Run(List<EpisodeResult> episodes, float[] parameters, List<Exchange> exchanges) {
  }

  private AgentRuns() {
  }

  /** Asks the agent over the event bus. */
  static ActionSource eventBus(Vertx vertx) {
    return q -> vertx.eventBus().<SelectActionReply>request(Addresses.AGENT_SELECT_ACTION, q,
        ProtobufCodec.options(10_000)).map(Message::body);
  }

  /** Wraps a source so every exchange is recorded (replies arrive on event loops: synchronized). */
  static ActionSource recording(ActionSource inner, List<Exchange> log) {
    return q -> inner.selectAction(q).andThen(ar -> {
      if (ar.succeeded()) {
        log.add(new Exchange(q, ar.result()));
      }
    });
  }

  /**
   * Deploys the agent and its observers (observer i asks {@code source.apply(i, vertx)}), runs
   * {@code episodes} episodes of {@code steps} and returns the results and final parameters.
   */
  static Future<Run> run(Vertx vertx, AgentConfig config, MeterRegistry registry, int episodes, int steps,
                         BiFunction<Integer, Vertx, ActionSource> source) {
    return run(vertx, config, registry, episodes, steps, source, agent -> { });
  }

  /** As above; {@code onDeployed} sees the agent before any observer starts. */
  static Future<Run> run(Vertx vertx, AgentConfig config, MeterRegistry registry, int episodes, int steps,
                         BiFunction<Integer, Vertx, ActionSource> source, Consumer<AgentVerticle> onDeployed) {
    ProtobufCodec.register(vertx);
    List<Exchange> log = Collections.synchronizedList(new ArrayList<>());
    AgentVerticle agent = new AgentVerticle(config, registry);
    List<String> ids = Collections.synchronizedList(new ArrayList<>());
    return vertx.deployVerticle(agent).compose(id -> {
      ids.add(id);
      onDeployed.accept(agent);
      List<Future<String>> deployed = new ArrayList<>();
      for (int i = 0; i < config.observers(); i++) {
        ObserverConfig oc = new ObserverConfig(config.observerIds().get(i), i, config.seed(), 10_000, true);
        deployed.add(vertx.deployVerticle(new ObserverVerticle(oc, recording(source.apply(i, vertx), log))));
      }
      return Future.all(deployed).onSuccess(all -> ids.addAll(all.list()));
    }).compose(v -> agent.observersReady())
        .compose(v -> episodes(agent, episodes, steps, new ArrayList<>()))
        .compose(results -> agent.parameters().map(p -> new Run(results, p, log)))
        // Undeployed afterwards, so the next run in the same Vert.x has the addresses to itself.
        .compose(run -> Future.join(ids.stream().map(vertx::undeploy).toList()).map(run));
  }

  static Future<Run> run(Vertx vertx, AgentConfig config, int episodes, int steps) {
    return run(vertx, config, null, episodes, steps, (i, v) -> eventBus(v));
  }


  static Future<List<EpisodeResult>> episodes(AgentVerticle agent, int left, int steps,
                                                            List<EpisodeResult> acc) {
    if (left == 0) {
      return Future.succeededFuture(acc);
    }
    return agent.runEpisode(steps).compose(r -> {
      acc.add(r);
      return episodes(agent, left - 1, steps, acc);
    });
  }

  /** The same run in a Vert.x of its own, on the event bus: what a run under test must end with. */
  static Run cleanRun(AgentConfig config, int episodes, int steps) throws Exception {
    Vertx plain = Vertx.vertx();
    try {
      return dev.batchrpc.runtime.testing.LoopbackNodes.await(run(plain, config, episodes, steps), 60);
    } finally {
      plain.close();
    }
  }

  /** The failure code a call ended with; it must fail within 10 s. */
  static dev.batchrpc.proto.FailureCode code(Future<?> call) throws Exception {
    Throwable t = dev.batchrpc.runtime.testing.LoopbackNodes.outcome(call, 10_000);
    org.assertj.core.api.Assertions.assertThat(t).as("the call must be refused").isNotNull();
    return dev.batchrpc.runtime.RpcException.of(t).code();
  }

  /** Episode, steps, loss and running reward of each result, bit for bit (hex). */
  static List<String> describe(List<EpisodeResult> results) {
    List<String> out = new ArrayList<>();
    for (EpisodeResult r : results) {
      out.add(r.episode() + " " + r.steps() + " " + Float.toHexString(r.loss()) + " "
          + Double.toHexString(r.runningReward()));
    }
    return out;
  }

  /** The exchanges of one observer, in step order of each episode. */
  static List<Exchange> of(List<Exchange> log, String observerId) {
    List<Exchange> out = new ArrayList<>();
    synchronized (log) {
      for (Exchange e : log) {
        if (e.request().getObserverId().equals(observerId)) {
          out.add(e);
        }
      }
    }
    return out;
  }
}
