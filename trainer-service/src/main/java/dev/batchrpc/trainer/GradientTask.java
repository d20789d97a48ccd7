package dev.batchrpc.trainer;

import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;

/**
 * What a trainer computes each round: load the model the server sent, then one forward and
 * backward pass on the next batch.
 *
 * <p>Thread confinement: a task is used by one trainer, one call at a time (the trainer's chain of
 * futures orders the calls, possibly on different worker threads); it needs no locking.
 */
public interface GradientTask {

  /** The loss and gradient of one batch; {@code loss} is NaN for a task with no loss (replay). */
  record Step(float loss, Tensor gradients) {
  }

  /** A short description for progress lines, e.g. "synthetic mlp [784,256,10] batch 20". */
  String describe();

  /**
   * Takes the server's parameters.
   *
   * @throws IllegalArgumentException if the server's model does not fit this task, naming both sizes
   */
  void load(ModelReply model);

  /** One forward and backward pass at the loaded parameters. */
  Step step();

  /**
   * Says that nothing reads {@code step}'s gradients any more (the server answered the update
   * that carried them), so a later {@link #step} may reuse their buffer; a step never recycled
   * is never reused. The default does nothing.
   */
  default void recycle(Step step) {
  }
}
