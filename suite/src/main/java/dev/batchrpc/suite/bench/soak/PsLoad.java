package dev.batchrpc.suite.bench.soak;

import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * N trainers in a loop: send the update for the version of the last reply, on reply send the
 * next. Confined to the driver context (the replies of requests sent from it arrive on it).
 */
public final class PsLoad {
  private final Vertx vertx;
  private final List<String> ids;
  private final Map<String, UpdateRequest.Builder> builders = new HashMap<>();
  /** Replies per model version not yet checked. */
  private final Map<Long, Integer> replies = new HashMap<>();
  private final int n;
  private long sent;
  private long answered;
  private long failed;
  private long doubled;
  private long checked;
  private long badRounds;
  /** Versions up to this one were checked (and removed from {@link #replies}). */
  private long checkedUpTo;
  private long maxVersion;
  private long stopAt = Long.MAX_VALUE;
  private int running;
  private final AtomicLong rounds = new AtomicLong();
  private Promise<Void> stopped;

  public PsLoad(Vertx vertx, List<String> ids, int params) {
    this.vertx = vertx;
    this.ids = ids;
    this.n = ids.size();
    for (int t = 0; t < n; t++) {
      // A fixed small gradient per trainer: the model drifts slowly and stays finite.
      float[] g = new float[params];
      for (int i = 0; i < g.length; i++) {
        g[i] = 1e-4f * ((i + t) % 7 - 3);
      }
      builders.put(ids.get(t), UpdateRequest.newBuilder().setParticipantId(ids.get(t))
          .setGradients(Tensors.vector(g)));
    }
  }

  public void start() {
    for (int t = 0; t < n; t++) {
      running++;
      send(ids.get(t), 0);
    }
  }

  public long rounds() {
    return rounds.get();
  }

  private void send(String id, long version) {
    UpdateRequest.Builder b = builders.get(id);
    sent++;
    vertx.eventBus().<ModelReply>request(Addresses.PS_UPDATE_AND_FETCH, b.setModelVersion(version).build(),
        ProtobufCodec.options(60_000)).map(Message::body).onComplete(ar -> {
          if (ar.failed()) {
            failed++;
            finish();
            return;
          }
          answered++;
          long v = ar.result().getModelVersion();
          record(v);
          if (v >= stopAt) {
            finish();
          } else {
            send(id, v);
          }
        });
  }

  /** Counts a reply of version v; checks the versions that can no longer get replies. */
  private void record(long v) {
    if (v <= checkedUpTo) {
      doubled++;
      return;
    }
    replies.merge(v, 1, Integer::sum);
    if (v > maxVersion) {
      maxVersion = v;
      rounds.set(v);
      // Round v needed every trainer's reply of v - 1, which needed all replies of v - 2.
      check(v - 2);
    }
  }

  private void check(long upTo) {
    for (Iterator<Map.Entry<Long, Integer>> it = replies.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<Long, Integer> e = it.next();
      if (e.getKey() <= upTo) {
        checked++;
        if (e.getValue() != n) {
          badRounds++;
        }
        it.remove();
      }
    }
    checkedUpTo = Math.max(checkedUpTo, upTo);
  }

  private void finish() {
    running--;
    if (running == 0 && stopped != null) {
      check(maxVersion);
      stopped.tryComplete();
    }
  }

  /** Stops after the round every trainer can still reach: the one after the newest reply seen. */
  public Future<Void> stop() {
    stopped = Promise.promise();
    stopAt = maxVersion + 1;
    if (running == 0) {
      stopped.tryComplete();
    }
    return stopped.future();
  }

  public Completions completions() {
    return new Completions(sent, answered, failed, sent - answered - failed, doubled, maxVersion, checked,
        badRounds + replies.size());
  }
}
