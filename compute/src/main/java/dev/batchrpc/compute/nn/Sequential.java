package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.random.Rng;
import java.util.List;

/**
 * Layers in sequence over ONE flat parameter array and ONE flat gradient array of the same length;
 * each layer views its slice, in PyTorch's {@code parameters()} order (per layer: weight, then bias).
 * The flat arrays are what goes on the wire and into the optimizer, with no copying.
 *
 * <p>Not thread-safe.
 */
public final class Sequential {

  private final List<Layer> layers;
  private final float[] params;
  private final float[] grads;
  /** Where each layer's slice starts. */
  private final int[] offsets;
  /** Whether every layer is a different object, so each slice is written by its own layer. */
  private final boolean distinct;

  /** A model of these layers with zero parameters (call {@link #init} or load params). */
  public Sequential(Layer... layers) {
    this.layers = List.of(layers);
    long total = 0;
    for (Layer l : layers) {
      total += l.paramCount();
    }
    if (total > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("too many parameters: " + total);
    }
    params = new float[(int) total];
    grads = new float[(int) total];
    offsets = new int[layers.length];
    int off = 0;
    for (int i = 0; i < layers.length; i++) {
      offsets[i] = off;
      layers[i].bind(params, grads, off);
      off += layers[i].paramCount();
    }
    java.util.Set<Layer> seen = java.util.Collections.newSetFromMap(
        new java.util.IdentityHashMap<>());
    seen.addAll(this.layers);
    distinct = seen.size() == layers.length;
  }

  /** The layers, in order. */
  public List<Layer> layers() {
    return layers;
  }

  /** The flat parameter vector (live, not a copy). */
  public float[] params() {
    return params;
  }

  /** The flat gradient vector (live, not a copy); {@link #backward} accumulates into it. */
  public float[] grads() {
    return grads;
  }

  /** Number of parameters. */
  public int paramCount() {
    return params.length;
  }

  /** Initialises every layer's parameters in order (PyTorch's default for Linear). */
  public Sequential init(Rng rng) {
    for (Layer l : layers) {
      l.init(rng);
    }
    return this;
  }

  /**
   * Replaces the parameters with a copy of {@code values}.
   *
   * @throws IllegalArgumentException if the length differs (nothing is copied)
   */
  public void loadParams(float[] values) {
    if (values.length != params.length) {
      throw new IllegalArgumentException("parameter vector of length " + values.length
          + " does not fit a model of " + params.length + " parameters");
    }
    System.arraycopy(values, 0, params, 0, values.length);
  }

  /** Sets every gradient to 0 (torch's {@code zero_grad(set_to_none=False)}). */
  public void zeroGrad() {
    java.util.Arrays.fill(grads, 0f);
  }

  /** Runs every layer's forward in order. */
  public Tensor forward(Tensor x) {
    Tensor y = x;
    for (Layer l : layers) {
      y = l.forward(y);
    }
    return y;
  }

  /** Runs every layer's backward in reverse order, accumulating into {@link #grads()}. */
  public Tensor backward(Tensor gradY) {
    Tensor g = gradY;
    for (int i = layers.size() - 1; i >= 0; i--) {
      g = layers.get(i).backward(g);
    }
    return g;
  }

  /**
   * {@link #backward} for training: the same parameter gradients, but the first layer does not
   * compute the gradient with respect to the model's input (nobody needs it; for an MLP's first
   * Linear that is a GEMM as large as its weight gradient's).
   */
  public void backwardParams(Tensor gradY) {
    Tensor g = gradY;
    for (int i = layers.size() - 1; i >= 1; i--) {
      g = layers.get(i).backward(g);
    }
    if (!layers.isEmpty()) {
      layers.get(0).backwardParamsOnly(g);
    }
  }

  /**
   * {@link #zeroGrad} then {@link #backwardParams}, bitwise, without the pass that zeroes the
   * gradients (0.8 MB for the MLP 784-256-10): each {@link Linear} writes its slice (0 + each
   * sum, as adding to zeros gave); any other layer with parameters gets its slice zeroed first.
   * A model holding one layer object twice takes the two steps as they are.
   */
  public void backwardParamsFresh(Tensor gradY) {
    if (!distinct) {
      zeroGrad();
      backwardParams(gradY);
      return;
    }
    Tensor g = gradY;
    for (int i = layers.size() - 1; i >= 0; i--) {
      Layer l = layers.get(i);
      if (l instanceof Linear lin) {
        g = lin.backwardWrite(g, i > 0);
      } else {
        java.util.Arrays.fill(grads, offsets[i], offsets[i] + l.paramCount(), 0f);
        g = i > 0 ? l.backward(g) : l.backwardParamsOnly(g);
      }
    }
  }

  @Override
  public String toString() {
    return "Sequential" + layers + " (" + params.length + " parameters)";
  }
}
