package dev.batchrpc.trainer;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.nn.Mlp;
import dev.batchrpc.compute.nn.MseLoss;
import dev.batchrpc.compute.nn.Sequential;
import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import java.util.Arrays;

/**
 * An MLP trained with {@code nn.MSELoss} against one-hot labels, as the tutorial's trainers do.
 *
 * <ul>
 *   <li>{@code synthetic} (learnable): inputs uniform in [-1, 1); the label is the argmax of a
 *       fixed random linear "teacher" drawn from {@code seed}, so every trainer with the same seed
 *       learns the same task and the loss falls;</li>
 *   <li>{@code mse} (the tutorial's): random inputs and random labels; nothing to learn, for
 *       measuring the system with the tutorial's workload.</li>
 * </ul>
 * Each trainer draws its own batches from {@code seed} and its id, so runs are reproducible.
 */
public final class ClassificationTask implements GradientTask {

  private final boolean learnable;
  private final int[] layers;
  private final int batchSize;
  private final int inputs;
  private final int classes;
  private final Sequential model;
  private final float[] teacher;
  private final Rng data;

  /**
   * @param kind "synthetic" or "mse"
   * @param layers MLP layer sizes, inputs first
   * @param batchSize samples per batch
   * @param seed the task seed (the same for all trainers of one run)
   * @param trainerId the trainer's id, which picks its own stream of batches
   */
  public ClassificationTask(String kind, int[] layers, int batchSize, long seed, String trainerId) {
    if (!kind.equals("synthetic") && !kind.equals("mse")) {
      throw new IllegalArgumentException("--task must be synthetic, mse or replay, got '" + kind + "'");
    }
    if (batchSize < 1) {
      throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
    }
    this.learnable = kind.equals("synthetic");
    this.layers = layers.clone();
    this.batchSize = batchSize;
    this.inputs = layers[0];
    this.classes = layers[layers.length - 1];
    // The initial weights are replaced by the server's before the first step.
    this.model = Mlp.create(new Rng(seed), layers);
    Rng teacherRng = new Rng(seed ^ 0x5eed_7eac_4e12L);
    this.teacher = new float[classes * inputs];
    for (int i = 0; i < teacher.length; i++) {
      teacher[i] = 2 * teacherRng.nextFloat() - 1;
    }
    // String.hashCode is specified, so the stream is the same on every JVM.
    this.data = new Rng(seed * 1_000_003L + trainerId.hashCode());
  }

  @Override
  public String describe() {
    return (learnable ? "synthetic" : "mse") + " mlp " + Arrays.toString(layers).replace(" ", "")
        + " batch " + batchSize;
  }

  /** The number of parameters of the model. */
  public int parameterCount() {
    return model.paramCount();
  }

  @Override
  public void load(ModelReply reply) {
    int n = Tensors.checkedElementCount(reply.getParameters());
    if (n != model.paramCount()) {
      throw new IllegalArgumentException("the server's model has " + n + " parameters but this trainer's "
          + "--layers " + Arrays.toString(layers).replace(" ", "") + " has " + model.paramCount()
          + ": start both with the same --layers");
    }
    Tensors.readInto(reply.getParameters(), model.params(), 0);
  }

  @Override
  public Step step() {
    float[] x = new float[batchSize * inputs];
    float[] y = new float[batchSize * classes];
    for (int b = 0; b < batchSize; b++) {
      for (int i = 0; i < inputs; i++) {
        x[b * inputs + i] = 2 * data.nextFloat() - 1;
      }
      y[b * classes + label(x, b * inputs)] = 1f;
    }
    model.zeroGrad();
    Tensor out = model.forward(Tensor.of(x, batchSize, inputs));
    Tensor target = Tensor.of(y, batchSize, classes);
    float loss = MseLoss.loss(out, target);
    // backwardParams: the first layer's input gradient is never needed, so it is not computed
    model.backwardParams(MseLoss.gradient(out, target));
    return new Step(loss, Tensors.vector(model.grads()));
  }

  private int label(float[] x, int off) {
    if (!learnable) {
      return (int) (data.nextFloat() * classes) % classes;
    }
    int best = 0;
    double bestScore = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < classes; c++) {
      double s = 0;
      for (int i = 0; i < inputs; i++) {
        s += teacher[c * inputs + i] * x[off + i];
      }
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    return best;
  }
}
