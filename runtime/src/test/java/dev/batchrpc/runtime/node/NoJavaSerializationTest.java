package dev.batchrpc.runtime.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.proto.ProtobufCodec;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.runtime.net.Ports;
import dev.batchrpc.runtime.testing.LoopbackNodes;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.shareddata.AsyncMap;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.Serializable;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * No Java serialization between nodes: a node refuses to send a {@link Serializable} body, refuses
 * to decode one from a peer that sends it anyway, and Hazelcast refuses to deserialize an object
 * of a class outside its filter. In no case does the receiving node run the object's
 * {@code readObject}.
 */
@ExtendWith(LoopbackNodes.class)
class NoJavaSerializationTest {

  /** How often any node deserialized a {@link Payload}: must stay 0. */
  static final AtomicInteger DESERIALIZED = new AtomicInteger();

  /** A plain Serializable class that counts its deserializations. */
  static final class Payload implements Serializable {
    private static final long serialVersionUID = 1L;
    final String text;

    Payload(String text) {
      this.text = text;
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
      DESERIALIZED.incrementAndGet();
      in.defaultReadObject();
    }
  }

  private static Node a;
  private static Node b;

  @BeforeAll
  static void cluster() throws Exception {
    String name = LoopbackNodes.clusterName("ser");
    int portA = Ports.freePort();
    a = Nodes.start(LoopbackNodes.config(name, portA, List.of())).await(60, TimeUnit.SECONDS);
    b = Nodes.start(LoopbackNodes.config(name, Ports.freePort(), List.of(LoopbackNodes.member(portA))))
        .await(60, TimeUnit.SECONDS);
  }

  @AfterAll
  static void close() throws Exception {
    for (Node n : new Node[] {b, a}) {
      if (n != null) {
        n.close().await(20, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aSerializableBodyIsRefusedBeforeItLeavesTheNode() throws Exception {
    AtomicInteger received = new AtomicInteger();
    b.vertx().eventBus().consumer("ser.refused", m -> received.incrementAndGet()).completion()
        .await(10, TimeUnit.SECONDS);

    assertThatThrownBy(() -> a.vertx().eventBus().request("ser.refused", new Payload("hi")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(Payload.class.getName())
        .hasMessageContaining("Java serialization is disabled");
    assertThatThrownBy(() -> a.vertx().eventBus().publish("ser.refused", new Payload("hi")))
        .isInstanceOf(IllegalArgumentException.class);
    // Protobuf bodies and Vert.x's simple types still pass.
    assertThat(Nodes.selectClusterCodec(GetModelRequest.getDefaultInstance())).isEqualTo(ProtobufCodec.NAME);
    assertThat(received).hasValue(0);
    assertThat(DESERIALIZED).hasValue(0);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aSerializableBodyFromALaxPeerIsNeverDeserialized() throws Exception {
    List<Object> bodies = new CopyOnWriteArrayList<>();
    List<Throwable> refusals = new CopyOnWriteArrayList<>();
    b.vertx().eventBus().<Object>consumer("ser.lax", m -> {
      // A clustered body is decoded when the consumer first asks for it.
      try {
        bodies.add(m.body());
        m.reply("got it");
      } catch (RuntimeException e) {
        refusals.add(e);
        m.fail(500, "refused: " + e.getMessage());
      }
    }).completion().await(10, TimeUnit.SECONDS);
    // A second Vert.x-based process that did not lock its bus down, as a hostile member might be.
    io.vertx.core.Vertx lax = Nodes.start(LoopbackNodes.config(a.config().clusterName(), Ports.freePort(),
        List.of(LoopbackNodes.member(a)))).await(60, TimeUnit.SECONDS).vertx();
    try {
      lax.eventBus().codecSelector(body -> null);
      lax.eventBus().serializableChecker(className -> true);

      Throwable failure = null;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (System.nanoTime() < deadline) {
        failure = LoopbackNodes.outcome(lax.eventBus().request("ser.lax", new Payload("hi"),
            new DeliveryOptions().setSendTimeout(3_000)), 15_000);
        // Retry while the consumer's registration has not reached the new node yet.
        if (failure == null || !String.valueOf(failure.getMessage()).contains("No handlers")) {
          break;
        }
        Thread.sleep(50);
      }
      assertThat(failure).as("the request with a Java-serialized body failed").isNotNull();
      assertThat(failure.getMessage()).doesNotContain("No handlers");
      assertThat(bodies).as("the consumer never got the object").isEmpty();
      // The class is refused by name before any of its code runs.
      assertThat(refusals).singleElement().extracting(Throwable::getMessage).asString()
          .contains("Class not allowed: " + Payload.class.getName());
      assertThat(DESERIALIZED).as("the receiver never ran readObject").hasValue(0);
    } finally {
      lax.close().await(20, TimeUnit.SECONDS);
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void hazelcastDeserializesNoClassOutsideItsFilter() throws Exception {
    AsyncMap<String, Object> onA = a.vertx().sharedData().<String, Object>getAsyncMap("ser.map").await(10, TimeUnit.SECONDS);
    AsyncMap<String, Object> onB = b.vertx().sharedData().<String, Object>getAsyncMap("ser.map").await(10, TimeUnit.SECONDS);
    // Controls: a value of Hazelcast's own serialization crosses, and a cluster-wide counter
    // (observers claim their index with one) works: its updates are serialized lambdas that the
    // filter admits for Vert.x's counter class alone.
    onA.put("text", "plain").await(10, TimeUnit.SECONDS);
    assertThat(onB.get("text").await(10, TimeUnit.SECONDS)).isEqualTo("plain");
    assertThat(a.vertx().sharedData().getCounter("ser.counter").compose(c -> c.incrementAndGet())
        .await(10, TimeUnit.SECONDS)).isEqualTo(1L);
    assertThat(b.vertx().sharedData().getCounter("ser.counter").compose(c -> c.addAndGet(2))
        .await(10, TimeUnit.SECONDS)).isEqualTo(3L);
    assertThat(b.vertx().sharedData().getCounter("ser.counter").compose(c -> c.compareAndSet(3, 5))
        .await(10, TimeUnit.SECONDS)).isTrue();

    // A Serializable value is stored as Java-serialized bytes (writing is not filtered) ...
    onA.put("payload", new Payload("hi")).await(10, TimeUnit.SECONDS);
    // ... and reading it back is refused on either node.
    for (AsyncMap<String, Object> map : List.of(onB, onA)) {
      Throwable failure = LoopbackNodes.outcome(map.get("payload"), 15_000);
      assertThat(failure).as("reading a Java-serialized %s", Payload.class.getSimpleName()).isNotNull();
      assertThat(causes(failure)).contains("is not allowed");
    }
    assertThat(DESERIALIZED).hasValue(0);
  }

  private static String causes(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      sb.append(c).append(" <- ");
    }
    return sb.toString();
  }
}
