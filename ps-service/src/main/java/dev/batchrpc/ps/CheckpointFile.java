package dev.batchrpc.ps;

import dev.batchrpc.ps.model.TensorLayout;

/**
 * The contents of one parameter-server checkpoint file: which model it belongs to (its identity
 * and its layout: names and shapes), the optimizer's settings when it was taken, and the store's
 * whole state (version, parameters, momentum buffer, first-step flag).
 *
 * @param model the model identity ({@link CheckpointDirectory#identity(ModelSpec)}, e.g. "mlp 784,256,10")
 * @param layout the model's named tensors (a server started with {@code --model init} restores
 *     a user's model from them); null only in a file of format 1, which did not keep them
 * @param lr the SGD learning rate of the server that wrote it
 * @param momentum the SGD momentum of the server that wrote it
 * @param state the store's state; its arrays are kept, not copied
 */
public record CheckpointFile(String model, TensorLayout layout, float lr, float momentum,
    ParameterStore.State state) {

  /** Checks the fields. */
  public CheckpointFile {
    if (model == null || model.isBlank()) {
      throw new IllegalArgumentException("a checkpoint needs its model identity");
    }
    if (state == null) {
      throw new IllegalArgumentException("a checkpoint needs the store's state");
    }
    if (layout != null && layout.parameterCount() != state.parameters().length) {
      throw new IllegalArgumentException("the layout has " + layout.parameterCount() + " parameters, the state "
          + state.parameters().length);
    }
  }

  /** A checkpoint of {@code store} (a host copy of its state), taken on the store's thread. */
  public static CheckpointFile of(ModelSpec spec, ParameterStore store) {
    return new CheckpointFile(CheckpointDirectory.identity(spec), spec.layout(), store.lr(), store.momentum(),
        store.export());
  }

  /** The model version it holds. */
  public long version() {
    return state.version();
  }

  /** The number of parameters. */
  public int parameterCount() {
    return state.parameters().length;
  }
}
