package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.random.Rng;

/**
 * A layer of a {@link Sequential} model on the host (CPU). Inputs and outputs are [batch x features]
 * tensors. A layer with parameters views a slice of the model's ONE flat parameter array and the
 * same slice of its ONE flat gradient array (bound once by the model).
 *
 * <p>{@link #forward} keeps what {@link #backward} needs (the input, a mask); the caller must not
 * change those tensors in between. Not thread-safe.
 */
public interface Layer {

  /** Number of floats this layer owns in the flat parameter vector (0 for none). */
  default int paramCount() {
    return 0;
  }

  /** Binds the layer to {@code params[offset..offset+paramCount())} and the same gradient slice. */
  default void bind(float[] params, float[] grads, int offset) {
  }

  /** Initialises this layer's parameters (no-op for a layer without parameters). */
  default void init(Rng rng) {
  }

  /** The output for input {@code x}; remembers what the backward pass needs. */
  Tensor forward(Tensor x);

  /**
   * The gradient with respect to the last forward's input, given the gradient of its output;
   * accumulates (+=) parameter gradients into the bound gradient slice.
   */
  Tensor backward(Tensor gradY);

  /**
   * Like {@link #backward}, for the first layer of a model, whose input gradient nobody needs:
   * accumulates the parameter gradients and may skip computing the input gradient (returning
   * null). The default simply calls {@link #backward}.
   */
  default Tensor backwardParamsOnly(Tensor gradY) {
    return backward(gradY);
  }
}
