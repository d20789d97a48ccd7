package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.random.Rng;

/** A multi-layer perceptron: Linear layers with ReLU between them (none after the last). */
public final class Mlp {

  private Mlp() {
  }

  /**
   * An MLP of the given layer sizes, e.g. {@code create(rng, 784, 256, 10)} is
   * Linear(784,256) -> ReLU -> Linear(256,10), initialised as PyTorch's default from {@code rng}.
   */
  public static Sequential create(Rng rng, int... sizes) {
    if (sizes.length < 2) {
      throw new IllegalArgumentException("an MLP needs at least 2 layer sizes, got "
          + java.util.Arrays.toString(sizes));
    }
    Layer[] layers = new Layer[2 * (sizes.length - 1) - 1];
    for (int i = 0; i + 1 < sizes.length; i++) {
      layers[2 * i] = new Linear(sizes[i], sizes[i + 1]);
      if (i + 2 < sizes.length) {
        layers[2 * i + 1] = new ReLU();
      }
    }
    return new Sequential(layers).init(rng);
  }
}
