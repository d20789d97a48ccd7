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
 * </ul>
 * Every kind has a {@link #layout()}: the named tensors clients map the flat vector onto.
 */
public final class ModelSpec {

  private final String kind;
  private final int[] layers;
  private final int replayParams;
  private final TensorLayout layout;
  /** The loaded file, for {@code safetensors}; null otherwise. */
  private final Safetensors.Loaded loaded;
  private final Path source;

  /** ResNet-50's parameter count, the default {@code --replay-params}. */
  public static final int RESNET50_PARAMS = 23_569_502;

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
      default -> throw new IllegalArgumentException("--model must be mlp or replay, got '" + kind + "'");
    }
    this.kind = kind;
    this.layers = layers;
    this.replayParams = replayParams;
    this.layout = kind.equals("mlp") ? TensorLayout.mlp(layers) : TensorLayout.flat(replayParams);
    this.loaded = null;
    this.source = null;
  }

  private ModelSpec(Path source, Safetensors.Loaded loaded) {
    this.kind = "safetensors";
    this.layers = new int[0];
    this.replayParams = 0;
    this.layout = loaded.layout();
    this.loaded = loaded;
    this.source = source;
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
      return new ModelSpec(file, Safetensors.read(file, (Integer.MAX_VALUE - 8) / 4));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--init-from: " + e.getMessage(), e);
    }
  }

  /** "mlp", "replay" or "safetensors". */
  public String kind() {
    return kind;
  }

  /** The replay parameter count (0 for other kinds). */
  public int replayParams() {
    return replayParams;
  }

  /** The model's named tensors, in flat-vector order. */
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

  /** The number of parameters P. */
  public int parameterCount() {
    return (int) layout.parameterCount();
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
    if (loaded != null) {
      return "safetensors " + source.getFileName() + " (" + layout.entries().size() + " tensors, "
          + parameterCount() + " parameters, layout " + layout.id() + ")";
    }
    return kind.equals("mlp")
        ? "mlp " + Arrays.toString(layers).replace(" ", "") + " (" + parameterCount() + " parameters)"
        : "replay (" + replayParams + " parameters)";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ModelSpec m && m.kind.equals(kind) && Arrays.equals(m.layers, layers)
        && m.replayParams == replayParams && m.layout.equals(layout)
        && (loaded == null ? m.loaded == null : m.loaded != null && Arrays.equals(m.loaded.values(), loaded.values()));
  }

  @Override
  public int hashCode() {
    return 31 * (31 * kind.hashCode() + Arrays.hashCode(layers)) + replayParams + layout.hashCode();
  }

  private static int mlpParameterCount(int[] sizes) {
    long n = 0;
    for (int i = 0; i + 1 < sizes.length; i++) {
      n += (long) sizes[i] * sizes[i + 1] + sizes[i + 1];
    }
    if (n > (Integer.MAX_VALUE - 8) / 4) {
      throw new IllegalArgumentException("--layers " + Arrays.toString(sizes) + " has " + n
          + " parameters, too many for one message");
    }
    return (int) n;
  }
}
