package dev.batchrpc.suite.bench.soak;

import dev.batchrpc.agent.AgentVerticle;
import dev.batchrpc.observer.ActionSource;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.SelectActionReply;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Agent episodes back to back, and every observer's action requests counted. The episode loop
 * runs on the driver context; the counters are written from the observers' contexts too.
 */
public final class AgentLoad {
  private final Context context;
  private final AgentVerticle agent;
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong answered = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong doubled = new AtomicLong();
  private final AtomicLong wrongSize = new AtomicLong();
  private final AtomicLong episodes = new AtomicLong();
  private final AtomicLong stepRounds = new AtomicLong();
  private volatile AtomicIntegerArray perStep;
  private volatile long episode = -1;
  private final int observers;
  private final int steps;
  private long checked;
  private long badRounds;
  private long failedEpisodes;
  private boolean stopping;
  private final Promise<Void> stopped = Promise.promise();

  public AgentLoad(Context context, AgentVerticle agent, int observers, int steps) {
    this.context = context;
    this.agent = agent;
    this.observers = observers;
    this.steps = steps;
  }

  /** The action source of each observer: the agent over the event bus, counted. */
  public ActionSource actions(Vertx vertx) {
    return q -> {
      sent.incrementAndGet();
      return vertx.eventBus().<SelectActionReply>request(Addresses.AGENT_SELECT_ACTION, q,
          ProtobufCodec.options(60_000)).map(Message::body).andThen(ar -> {
            if (ar.failed()) {
              failed.incrementAndGet();
              return;
            }
            answered.incrementAndGet();
            AtomicIntegerArray counts = perStep;
            if (q.getEpisode() != episode || counts == null) {
              doubled.incrementAndGet();
            } else {
              counts.incrementAndGet(q.getStep());
            }
            if (ar.result().getBatchSize() != observers) {
              wrongSize.incrementAndGet();
            }
          });
    };
  }

  public void start() {
    next();
  }

  private void next() {
    if (stopping) {
      stopped.tryComplete();
      return;
    }
    perStep = new AtomicIntegerArray(steps);
    episode = episodes.get() + failedEpisodes;
    agent.runEpisode(steps).onComplete(ar -> context.runOnContext(v -> {
      AtomicIntegerArray counts = perStep;
      if (ar.succeeded()) {
        episodes.incrementAndGet();
        for (int t = 0; t < steps; t++) {
          checked++;
          if (counts.get(t) != observers) {
            badRounds++;
          }
        }
        stepRounds.addAndGet(steps);
      } else {
        failedEpisodes++;
      }
      next();
    }));
  }

  public long episodes() {
    return episodes.get();
  }

  public long stepRounds() {
    return stepRounds.get();
  }

  /** Stops after the running episode. */
  public Future<Void> stop() {
    stopping = true;
    return stopped.future();
  }

  public Completions completions() {
    long s = sent.get();
    long a = answered.get();
    long f = failed.get();
    return new Completions(s, a, f + failedEpisodes, s - a - f, doubled.get(), stepRounds.get(), checked,
        badRounds + wrongSize.get());
  }
}
