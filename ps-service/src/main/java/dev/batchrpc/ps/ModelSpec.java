package dev.batchrpc.ps;

import dev.batchrpc.compute.nn.Mlp;
import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.ps.model.Safetensors;
import dev.batchrpc.ps.model.TensorLayout;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * The model a parameter server holds.
 *
 * <ul>
 *   <li>{@code mlp}: Linear layers of the given sizes with ReLU between them (e.g. 784,256,10:
 *       203,530 parameters), initialised as PyTorch's default; trainers train it.</li>
 *   <li>{@code replay}: a flat vector of {@code replayParams} parameters with no architecture, for
 *       measuring the server alone (trainers send a fixed pre-made gradient). 23,569,502 is
 *       ResNet-50's parameter count.</li>
 *   <li>{@code safetensors}: a user's model, its named tensors and initial values read from a
 *       safetensors file ({@code ps --init-from FILE}, {@link #fromFile}).</li>
 *   <li>{@code tensors}: a user's model sent by a client's {@code InitModel}, or restored with
 *       its layout from a checkpoint ({@link #ofTensors}).</li>
 *   <li>{@code init}: no model yet ({@code ps --model init}): the server waits for a client's
 *       {@code InitModel} of at most {@link #maxParameterCount()} parameters
 *       ({@link #awaitingInit}). It has no layout; every other kind has one.</li>
 * </ul>
 * Every kind but {@code init} has a {@link #layout()}: the named tensors clients map the flat
 * vector onto.
 */
public final class ModelSpec {

  private final String kind;
  private final int[] layers;
  private final int replayParams;
  private final TensorLayout layout;
  /** The loaded file, for {@code safetensors}; null otherwise. */
  private final Safetensors.Loaded loaded;
  /** Where a user's model came from, for the start line ("file.safetensors", "InitModel from 'py-0'"). */
  private final String origin;
  /** The largest model an {@code init} server accepts; the parameter count for every other kind. */
  private final long maxParameters;

  /** ResNet-50's parameter count, the default {@code --replay-params}. */
  public static final int RESNET50_PARAMS = 23_569_502;

  /** The most parameters any model may have: its float32 bytes must fit one array and one message. */
  public static final int MAX_PARAMETERS = (Integer.MAX_VALUE - 8) / 4;

  /**
   * A built-in model.
   *
   * @param kind "mlp" or "replay"
   * @param layers the MLP layer sizes (ignored for replay)
   * @param replayParams the replay parameter count (ignored for mlp)
   * @throws IllegalArgumentException naming the flag ({@code --model}, {@code --layers},
   *     {@code --replay-params}) that is wrong
   */
  public ModelSpec(String kind, int[] layers, int replayParams) {
    kind = kind == null ? "" : kind.trim().toLowerCase(Locale.ROOT);
    switch (kind) {
      case "mlp" -> {
        if (layers == null || layers.length < 2) {
          throw new IllegalArgumentException("--layers needs at least 2 sizes (inputs,...,outputs), got "
              + Arrays.toString(layers));
        }
        for (int s : layers) {
          if (s < 1) {
            throw new IllegalArgumentException("--layers sizes must be >= 1, got " + Arrays.toString(layers));
          }
        }
        layers = layers.clone();
        mlpParameterCount(layers);
        replayParams = 0;
      }
      case "replay" -> {
        if (replayParams < 1 || replayParams > (Integer.MAX_VALUE - 8) / 4) {
          throw new IllegalArgumentException("--replay-params must be in [1, " + (Integer.MAX_VALUE - 8) / 4
              + "], got " + replayParams);
        }
        layers = new int[0];
      }
      case "init" -> throw new IllegalArgumentException("--model init is made with ModelSpec.awaitingInit");
      default -> throw new IllegalArgumentException("--model must be mlp, replay or init, got '" + kind + "'");
    }
    this.kind = kind;
    this.layers = layers;
    this.replayParams = replayParams;
    this.layout = kind.equals("mlp") ? TensorLayout.mlp(layers) : TensorLayout.flat(replayParams);
    this.loaded = null;
    this.origin = null;
    this.maxParameters = layout.parameterCount();
  }

  private ModelSpec(String kind, String origin, Safetensors.Loaded loaded, long maxParameters) {
    this.kind = kind;
    this.layers = new int[0];
    this.replayParams = 0;
    this.layout = loaded == null ? null : loaded.layout();
    this.loaded = loaded;
    this.origin = origin;
    this.maxParameters = loaded == null ? maxParameters : layout.parameterCount();
  }

  /**
   * No model yet ({@code ps --model init}): the server waits for a client's {@code InitModel}.
   *
   * @param maxParameters the largest model it accepts ({@code --max-params}), 1 to {@link #MAX_PARAMETERS}
   * @return the placeholder
   * @throws IllegalArgumentException naming {@code --max-params}
   */
  public static ModelSpec awaitingInit(long maxParameters) {
    if (maxParameters < 1 || maxParameters > MAX_PARAMETERS) {
      throw new IllegalArgumentException("--max-params must be in [1, " + MAX_PARAMETERS + "], got " + maxParameters);
    }
    return new ModelSpec("init", null, null, maxParameters);
  }

  /**
   * A user's model of these named tensors and initial values (a client's {@code InitModel}, or a
   * layout restored from a checkpoint).
   *
   * @param layout the tensors, in flat-vector order
   * @param values the initial values, kept (not copied): exactly the layout's parameter count
   * @param origin where it came from, for the start line
   * @return the model
   * @throws IllegalArgumentException if the counts differ
   */
  public static ModelSpec ofTensors(TensorLayout layout, float[] values, String origin) {
    if (values.length != layout.parameterCount()) {
      throw new IllegalArgumentException("the layout has " + layout.parameterCount() + " parameters, the values "
          + values.length);
    }
    return new ModelSpec("tensors", origin, new Safetensors.Loaded(layout, values, java.util.Map.of()), 0);
  }

  /** Whether this is the placeholder of a server that waits for a client's {@code InitModel}. */
  public boolean awaitsInit() {
    return kind.equals("init");
  }

  /**
   * A user's model from a safetensors file: its tensors (in data order) and their values as the
   * initial model.
   *
   * @param file the file
   * @return the model
   * @throws IllegalArgumentException naming {@code --init-from}, the file and the first problem
   * @throws IOException when the file cannot be read
   */
  public static ModelSpec fromFile(Path file) throws IOException {
    try {
      return new ModelSpec("safetensors", String.valueOf(file.getFileName()), Safetensors.read(file, MAX_PARAMETERS),
          0);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--init-from: " + e.getMessage(), e);
    }
  }

  /** "mlp", "replay", "safetensors", "tensors" or "init". */
  public String kind() {
    return kind;
  }

  /** The replay parameter count (0 for other kinds). */
  public int replayParams() {
    return replayParams;
  }

  /** The model's named tensors, in flat-vector order; null for {@code init} (no model yet). */
  public TensorLayout layout() {
    return layout;
  }

  /** An MLP of the given layer sizes. */
  public static ModelSpec mlp(int... layers) {
    return new ModelSpec("mlp", layers, 0);
  }

  /** A replay model of {@code params} parameters. */
  public static ModelSpec replay(int params) {
    return new ModelSpec("replay", new int[0], params);
  }

  /** The number of parameters P (0 for {@code init}: no model yet). */
  public int parameterCount() {
    return layout == null ? 0 : (int) layout.parameterCount();
  }

  /**
   * The most parameters the server holds: P, or for {@code init} the largest model an
   * {@code InitModel} may set (the server's message size limits follow it).
   */
  public long maxParameterCount() {
    return maxParameters;
  }

  /** The MLP layer sizes (a copy; empty for other kinds). */
  public int[] layers() {
    return layers.clone();
  }

  /**
   * The initial parameters, reproducible from {@code seed}: PyTorch's default Linear init for an
   * MLP; uniform in (-0.05, 0.05) for replay; the file's values (a copy) for safetensors.
   */
  public float[] initialParameters(long seed) {
    if (loaded != null) {
      return loaded.values().clone();
    }
    Rng rng = new Rng(seed);
    if (kind.equals("mlp")) {
      return Mlp.create(rng, layers).params();
    }
    float[] p = new float[replayParams];
    rng.nextFloats(p, 0, p.length);
    for (int i = 0; i < p.length; i++) {
      p[i] = (p[i] - 0.5f) * 0.1f;
    }
    return p;
  }

  @Override
  public String toString() {
    if (awaitsInit()) {
      return "no model yet (--model init: waits for a client's InitModel of at most " + maxParameters
          + " parameters)";
    }
    if (loaded != null) {
      return (kind.equals("tensors") ? "a user's model " : "safetensors ") + origin + " (" + layout.entries().size()
          + " tensors, "
          + parameterCount() + " parameters, layout " + layout.id() + ")";
    }
    return kind.equals("mlp")
        ? "mlp " + Arrays.toString(layers).replace(" ", "") + " (" + parameterCount() + " parameters)"
        : "replay (" + replayParams + " parameters)";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ModelSpec m && m.kind.equals(kind) && Arrays.equals(m.layers, layers)
        && m.replayParams == replayParams && java.util.Objects.equals(m.layout, layout)
        && m.maxParameters == maxParameters
        && (loaded == null ? m.loaded == null : m.loaded != null && Arrays.equals(m.loaded.values(), loaded.values()));
  }

  @Override
  public int hashCode() {
    return 31 * (31 * kind.hashCode() + Arrays.hashCode(layers)) + replayParams + java.util.Objects.hashCode(layout);
  }

  private static int mlpParameterCount(int[] sizes) {
    long n = 0;
    for (int i = 0; i + 1 < sizes.length; i++) {
      n += (long) sizes[i] * sizes[i + 1] + sizes[i + 1];
    }
    if (n > MAX_PARAMETERS) {
      throw new IllegalArgumentException("--layers " + Arrays.toString(sizes) + " has " + n
          + " parameters, too many for one message");
    }
    return (int) n;
  }
}
