package dev.batchrpc.ps;

import dev.batchrpc.compute.nn.Mlp;
import dev.batchrpc.compute.random.Rng;
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
 * </ul>
 *
 * @param kind "mlp" or "replay"
 * @param layers the MLP layer sizes (empty for replay)
 * @param replayParams the replay parameter count (0 for mlp)
 */
public record ModelSpec(String kind, int[] layers, int replayParams) {

  /** ResNet-50's parameter count, the default {@code --replay-params}. */
  public static final int RESNET50_PARAMS = 23_569_502;

  /** Validates the fields. */
  public ModelSpec {
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
    return kind.equals("mlp") ? mlpParameterCount(layers) : replayParams;
  }

  /** The layer sizes (a copy). */
  @Override
  public int[] layers() {
    return layers.clone();
  }

  /**
   * The initial parameters, reproducible from {@code seed}: PyTorch's default Linear init for an
   * MLP; uniform in (-0.05, 0.05) for replay.
   */
  public float[] initialParameters(long seed) {
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
    return kind.equals("mlp")
        ? "mlp " + Arrays.toString(layers).replace(" ", "") + " (" + parameterCount() + " parameters)"
        : "replay (" + replayParams + " parameters)";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ModelSpec m && m.kind.equals(kind) && Arrays.equals(m.layers, layers)
        && m.replayParams == replayParams;
  }

  @Override
  public int hashCode() {
    return 31 * (31 * kind.hashCode() + Arrays.hashCode(layers)) + replayParams;
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
