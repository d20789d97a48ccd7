package dev.batchrpc.ps;

import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.InitModelReply;
import dev.batchrpc.proto.v1.InitModelRequest;
import dev.batchrpc.ps.model.TensorLayout;
import dev.batchrpc.runtime.RpcException;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.function.Supplier;

/**
 * The parameter server once it has a model: every transport reaches the {@link ParameterServer}
 * through here. A server started with a model ({@code --model mlp|replay}, {@code --init-from}) has
 * it from the start; one started with {@code --model init} has none until a client's
 * {@code InitModel} gives it one (or, with {@code --checkpoint-dir}, until its newest checkpoint
 * does at start: the checkpoint keeps the layout).
 *
 * <p>InitModel: first writer wins. A request is validated first (layout: names, shapes, dtype;
 * values: count and finiteness; size: {@code --max-params}), off the event loop, and refused
 * without touching anything ({@code BAD_REQUEST}, {@code SHAPE_MISMATCH}, {@code NON_FINITE},
 * {@code TOO_LARGE}). Valid requests take turns (one at a time, in arrival order): the first makes
 * the server (store, round, initial checkpoint) and, once it is complete, publishes it; every later
 * one is refused against the model in place: {@code ALREADY_INITIALIZED} with the same layout,
 * {@code LAYOUT_MISMATCH} naming the differences with another. So of two racing calls exactly one
 * wins, the other is refused only once the winner's model answers, and a failed initialisation
 * (e.g. its checkpoint could not be written) publishes nothing and leaves the turn to the next.
 * Before a model is in place every other call is {@code UNAVAILABLE} ("not initialised yet").
 *
 * <p>Threads: created on, and confined to, the verticle's event-loop context; {@link #current} is
 * volatile so a transport on another thread reads the published server.
 */
final class ModelGate {

  /** The most layout differences a {@code LAYOUT_MISMATCH} message names. */
  private static final int MAX_DIFFERENCES = 8;

  private final Context context;
  private final PsConfig config;
  private final MeterRegistry registry;
  private final Promise<ParameterServer> ready = Promise.promise();
  private volatile ParameterServer current;
  /** The last InitModel's (or close's) turn: the next one starts when it ends. Owner context only. */
  private Future<?> turn = Future.succeededFuture();
  /** Set once, on the owner context, when the server stops; read by transports anywhere. */
  private volatile boolean closed;

  private ModelGate(Context context, PsConfig config, MeterRegistry registry) {
    this.context = context;
    this.config = config;
    this.registry = registry;
  }

  /**
   * Opens the gate on the current context: makes the server when the config has a model, or when
   * ({@code --model init}) the checkpoint directory holds a checkpoint of a user's model; else the
   * gate stays empty until an {@code InitModel}.
   *
   * @return the gate; failed as the server's creation failed, or with an
   *     {@link IllegalStateException} naming {@code --checkpoint-dir} when its newest checkpoint
   *     cannot become this server's model
   */
  static Future<ModelGate> open(Context context, PsConfig config, MeterRegistry registry) {
    ModelGate gate = new ModelGate(context, config, registry);
    if (!config.model().awaitsInit()) {
      return ParameterServer.create(context, config, registry).map(gate::publish).map(gate);
    }
    if (!config.checkpoints().enabled()) {
      return Future.succeededFuture(gate);
    }
    return context.owner().executeBlocking(() -> modelFromCheckpoints(config), false)
        .compose(spec -> spec == null ? Future.succeededFuture(gate)
            : ParameterServer.create(context, withModel(config, spec), registry).map(gate::publish).map(gate));
  }

  /** The user's model the newest intact checkpoint holds, or null when there is none. Disk: a worker. */
  private static ModelSpec modelFromCheckpoints(PsConfig config) throws java.io.IOException {
    CheckpointConfig c = config.checkpoints();
    CheckpointDirectory.Restored restored = CheckpointDirectory.newestIntact(c.dir());
    if (!restored.found()) {
      List<java.nio.file.Path> corrupt = java.nio.file.Files.isDirectory(c.dir())
          ? CheckpointDirectory.corruptFiles(c.dir()) : List.of();
      if (!corrupt.isEmpty() && !c.allowEmptyRestore()) {
        throw CheckpointWriter.onlyCorrupt(c.dir(), corrupt);
      }
      return null;
    }
    CheckpointFile checkpoint = restored.checkpoint();
    String file = String.valueOf(restored.file().getFileName());
    if (!checkpoint.model().startsWith("tensors ")) {
      throw new IllegalStateException("--checkpoint-dir " + c.dir() + " holds checkpoint " + file + " of the built-in "
          + "model '" + checkpoint.model() + "': --model init restores only a user's model (from InitModel or "
          + "--init-from); start with that model's --model and --layers, or give --model init its own directory");
    }
    if (checkpoint.layout() == null) {
      throw new IllegalStateException("--checkpoint-dir " + c.dir() + " holds checkpoint " + file + " of format 1, "
          + "which does not keep the model's layout: start with --init-from the model's safetensors file");
    }
    return ModelSpec.ofTensors(checkpoint.layout(), checkpoint.state().parameters(), "from checkpoint " + file);
  }

  private static PsConfig withModel(PsConfig config, ModelSpec spec) {
    return config.toBuilder().model(spec).build();
  }

  private ParameterServer publish(ParameterServer ps) {
    current = ps;
    ready.complete(ps);
    return ps;
  }

  /** The server, or null while there is no model. */
  ParameterServer current() {
    return current;
  }

  /** Completes with the server once it has a model (at once when it started with one). */
  Future<ParameterServer> whenReady() {
    return ready.future();
  }

  /** The server, or a failed future ({@code UNAVAILABLE}: no model yet) for a transport to compose on. */
  Future<ParameterServer> server() {
    ParameterServer ps = current;
    return ps != null ? Future.succeededFuture(ps) : Future.failedFuture(notInitialised());
  }

  private RpcException notInitialised() {
    return new RpcException(FailureCode.UNAVAILABLE, closed ? "the parameter server is stopping"
        : "the model is not initialised yet: this parameter server was started with --model init and waits for a "
        + "client's InitModel (its layout and initial values); retry, or send InitModel")
        .withDetail("model", "uninitialized");
  }

  /**
   * A client's model for this server: the first valid request wins (see the class comment).
   *
   * @return the layout and version 0; or a failed future with the refusal
   */
  Future<InitModelReply> initModel(InitModelRequest request) {
    return context.owner().executeBlocking(() -> validate(request), false)
        .compose(spec -> inTurn(() -> install(spec, request.getParticipantId())));
  }

  /** The request as a model, or a refusal naming the first problem. Any thread. */
  private ModelSpec validate(InitModelRequest request) {
    String who = request.getParticipantId().isEmpty() ? "InitModel" : "InitModel of '" + request.getParticipantId() + "'";
    TensorLayout layout;
    try {
      layout = TensorLayout.fromProto(request.getTensorsList(), Long.MAX_VALUE);
    } catch (IllegalArgumentException e) {
      throw new RpcException(FailureCode.BAD_REQUEST, who + ": " + e.getMessage());
    }
    long max = config.model().awaitsInit() ? config.model().maxParameterCount() : ModelSpec.MAX_PARAMETERS;
    if (layout.parameterCount() > max) {
      throw new RpcException(FailureCode.TOO_LARGE, who + ": the layout holds " + layout.parameterCount()
          + " parameters, over this server's limit of " + max + (config.model().awaitsInit() ? " (--max-params)" : ""))
          .withDetail("limit_parameters", max).withDetail("size_parameters", layout.parameterCount());
    }
    long[] shape = {layout.parameterCount()};
    if (!request.hasValues()) {
      throw new RpcException(FailureCode.SHAPE_MISMATCH, who + ": values are missing (expected shape " + shape[0]
          + ": the layout's " + layout.entries().size() + " tensors, flattened in order)");
    }
    try {
      Tensors.requireShape(who + ": values", request.getValues(), shape);
    } catch (IllegalArgumentException e) {
      throw new RpcException(FailureCode.SHAPE_MISMATCH, e.getMessage() + " (the layout holds " + shape[0]
          + " parameters in " + layout.entries().size() + " tensors)");
    }
    ByteBuffer bytes = request.getValues().getData().asReadOnlyByteBuffer();
    int bad = FiniteCheck.firstNonFinite(bytes);
    if (bad >= 0) {
      float value = bytes.order(ByteOrder.LITTLE_ENDIAN).getFloat(bytes.position() + 4 * bad);
      throw new RpcException(FailureCode.NON_FINITE, who + ": values hold " + value + " at index " + bad + " ("
          + layout.elementName(bad) + "): the initial model must be finite");
    }
    String origin = "from InitModel" + (request.getParticipantId().isEmpty() ? "" : " of '"
        + request.getParticipantId() + "'");
    return ModelSpec.ofTensors(layout, Tensors.toFloats(request.getValues()), origin);
  }

  /** Runs {@code op} once every earlier turn has ended (owner context), whatever their outcome. */
  private <T> Future<T> inTurn(Supplier<Future<T>> op) {
    Promise<T> result = Promise.promise();
    context.runOnContext(v -> {
      Future<T> f = turn.transform(ignored -> op.get());
      turn = f;
      f.onComplete(result);
    });
    return result.future();
  }

  /** The request's turn: installs its model, or refuses it against the one in place. Owner context. */
  private Future<InitModelReply> install(ModelSpec spec, String who) {
    if (closed) {
      return Future.failedFuture(notInitialised());
    }
    ParameterServer ps = current;
    if (ps != null) {
      return Future.failedFuture(refusal(ps, spec.layout()));
    }
    return ParameterServer.create(context, withModel(config, spec), registry)
        .recover(e -> Future.failedFuture(RpcException.of(e)))
        .map(created -> {
          if (closed) {
            created.close();
            throw notInitialised();
          }
          publish(created);
          System.getLogger(ModelGate.class.getName()).log(System.Logger.Level.INFO, "ps: the model is set: "
              + spec + "; serving rounds of " + config.trainers() + " trainers");
          return InitModelReply.newBuilder().setLayout(created.layout()).setModelVersion(created.version()).build();
        });
  }

  private static RpcException refusal(ParameterServer ps, TensorLayout requested) {
    TensorLayout held = ps.config().model().layout();
    String model = ps.config().model().toString();
    if (held.equals(requested)) {
      return new RpcException(FailureCode.ALREADY_INITIALIZED, "the parameter server already holds a model of this "
          + "layout (" + model + ", at version " + ps.version() + "): the first InitModel won; fetch the model "
          + "(GetModel) instead").withDetail("layout_id", held.id()).withDetail("model_version", ps.version());
    }
    List<String> diff = held.differences(requested, "on the server", "in the request", MAX_DIFFERENCES);
    return new RpcException(FailureCode.LAYOUT_MISMATCH, "the parameter server holds another model (" + model
        + "); the requested layout " + requested.id() + " differs: " + String.join("; ", diff))
        .withDetail("layout_id", held.id()).withDetail("request_layout_id", requested.id());
  }

  /**
   * Closes the server (after any InitModel in progress); later InitModel calls are refused as
   * {@code UNAVAILABLE}.
   */
  Future<Void> close() {
    return inTurn(() -> {
      closed = true;
      ParameterServer ps = current;
      return ps == null ? Future.<Void>succeededFuture() : ps.close();
    });
  }
}
