package dev.batchrpc.ps;

/**
 * The contents of one parameter-server checkpoint file: which model it belongs to, the
 * optimizer's settings when it was taken, and the store's whole state (version, parameters,
 * momentum buffer, first-step flag).
 *
 * @param model the model identity ({@link CheckpointDirectory#identity(ModelSpec)}, e.g. "mlp 784,256,10")
 * @param lr the SGD learning rate of the server that wrote it
 * @param momentum the SGD momentum of the server that wrote it
 * @param state the store's state; its arrays are kept, not copied
 */
public record CheckpointFile(String model, float lr, float momentum, ParameterStore.State state) {

  /** Checks the fields. */
  public CheckpointFile {
    if (model == null || model.isBlank()) {
      throw new IllegalArgumentException("a checkpoint needs its model identity");
    }
    if (state == null) {
      throw new IllegalArgumentException("a checkpoint needs the store's state");
    }
  }

  /** A checkpoint of {@code store} (a host copy of its state), taken on the store's thread. */
  public static CheckpointFile of(ModelSpec spec, ParameterStore store) {
    return new CheckpointFile(CheckpointDirectory.identity(spec), store.lr(), store.momentum(), store.export());
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
