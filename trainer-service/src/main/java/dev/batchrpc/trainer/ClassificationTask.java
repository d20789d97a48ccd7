package dev.batchrpc.trainer;

import com.google.protobuf.UnsafeByteOperations;
import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.nn.Mlp;
import dev.batchrpc.compute.nn.MseLoss;
import dev.batchrpc.compute.nn.Sequential;
import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
  /** The batch's inputs and one-hot labels, reused every step. */
  private final float[] x;
  private final float[] y;
  /** The last step's gradient tensor and the array it wraps, until recycled. */
  private dev.batchrpc.proto.v1.Tensor lastGradients;
  private byte[] lastBuffer;
  /** A recycled gradient array for the next step, or null. */
  private byte[] spare;

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
    this.x = new float[Math.multiplyExact(batchSize, inputs)];
    this.y = new float[Math.multiplyExact(batchSize, classes)];
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

  /** The model (for the benchmark that takes a step apart). */
  Sequential model() {
    return model;
  }

  /** Draws the next batch: {@code x} [batch x inputs], {@code y} [batch x classes] one-hot. */
  void nextBatch(float[] x, float[] y) {
    Arrays.fill(y, 0f);
    for (int b = 0; b < batchSize; b++) {
      int off = b * inputs;
      // the draws of 2 * nextFloat() - 1 in order, in two passes
      data.nextFloats(x, off, inputs);
      for (int i = off; i < off + inputs; i++) {
        x[i] = 2 * x[i] - 1;
      }
      y[b * classes + label(x, off)] = 1f;
    }
  }

  @Override
  public Step step() {
    // the batch's arrays are reused: nothing holds them after a step
    nextBatch(x, y);
    Tensor out = model.forward(Tensor.of(x, batchSize, inputs));
    Tensor target = Tensor.of(y, batchSize, classes);
    float loss = MseLoss.loss(out, target);
    // the gradients written afresh (as zeroGrad then backwardParams, bitwise); the first layer's
    // input gradient is never needed, so it is not computed
    model.backwardParamsFresh(MseLoss.gradient(out, target));
    return new Step(loss, encode());
  }

  /**
   * The gradients as a wire tensor (as {@link Tensors#vector}), in the recycled buffer when there
   * is one: a fresh 4-bytes-per-parameter array each round cost more than the copy (zeroing it,
   * and the garbage; 0.8 MB a round for the MLP 784-256-10).
   */
  dev.batchrpc.proto.v1.Tensor encode() {
    float[] grads = model.grads();
    byte[] buf = spare;
    spare = null;
    if (buf == null || buf.length != grads.length * Tensors.BYTES_PER_ELEMENT) {
      buf = new byte[Math.multiplyExact(grads.length, Tensors.BYTES_PER_ELEMENT)];
    }
    ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(grads);
    // wrapped without a copy: only this task writes buf, and only once the tensor is recycled
    dev.batchrpc.proto.v1.Tensor t = dev.batchrpc.proto.v1.Tensor.newBuilder()
        .setData(UnsafeByteOperations.unsafeWrap(buf)).addShape(grads.length).build();
    lastBuffer = buf;
    lastGradients = t;
    return t;
  }

  @Override
  public void recycle(Step step) {
    if (step != null && step.gradients() == lastGradients) {
      spare = lastBuffer;
      lastGradients = null;
      lastBuffer = null;
    }
  }

  private int label(float[] x, int off) {
    if (!learnable) {
      return (int) (data.nextFloat() * classes) % classes;
    }
    // float products summed in double, one class at a time. Four classes' sums interleaved were
    // no faster (the loop is bound by its multiplies and conversions, not the adds' latency).
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
