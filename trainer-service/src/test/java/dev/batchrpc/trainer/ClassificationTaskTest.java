package dev.batchrpc.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import org.junit.jupiter.api.Test;

class ClassificationTaskTest {

  /**
   * The batches as the task first drew them, one draw and one score at a time: the task's faster
   * loops must give exactly these.
   */
  private static void reference(boolean learnable, int[] layers, int batch, long seed, String id,
                                int batches, float[] xs, float[] ys) {
    int in = layers[0];
    int classes = layers[layers.length - 1];
    float[] teacher = TrainerStepBench.teacher(layers, seed);
    Rng data = new Rng(seed * 1_000_003L + id.hashCode());
    float[] x = new float[batch * in];
    float[] y = new float[batch * classes];
    for (int n = 0; n < batches; n++) {
      java.util.Arrays.fill(y, 0f);
      TrainerStepBench.batchBefore(learnable, teacher, data, in, classes, batch, x, y);
      System.arraycopy(x, 0, xs, n * batch * in, x.length);
      System.arraycopy(y, 0, ys, n * batch * classes, y.length);
    }
  }

  @Test
  void batchesAreTheOriginalDrawsAndLabels() {
    int[][] shapes = {{784, 256, 10}, {16, 32, 4}, {5, 3}, {7, 4, 1}, {9, 2}, {33, 8, 7},
        {12, 6, 5, 11}, {3, 4, 3}};
    int batches = 3;
    for (String kind : new String[] {"synthetic", "mse"}) {
      for (int[] layers : shapes) {
        for (int batch : new int[] {1, 20}) {
          int in = layers[0];
          int classes = layers[layers.length - 1];
          ClassificationTask task = new ClassificationTask(kind, layers, batch, 42, "t-7");
          float[] xs = new float[batches * batch * in];
          float[] ys = new float[batches * batch * classes];
          reference(kind.equals("synthetic"), layers, batch, 42, "t-7", batches, xs, ys);
          float[] x = new float[batch * in];
          float[] y = new float[batch * classes];
          for (int n = 0; n < batches; n++) {
            task.nextBatch(x, y);
            String what = kind + " " + java.util.Arrays.toString(layers) + " batch " + batch
                + " #" + n;
            assertThat(x).as(what).isEqualTo(java.util.Arrays.copyOfRange(xs, n * batch * in,
                (n + 1) * batch * in));
            assertThat(y).as(what).isEqualTo(java.util.Arrays.copyOfRange(ys,
                n * batch * classes, (n + 1) * batch * classes));
          }
        }
      }
    }
  }

  @Test
  void aRecycledGradientBufferGivesTheSameGradients() {
    int[] layers = {16, 32, 4};
    ClassificationTask a = new ClassificationTask("synthetic", layers, 8, 3, "t-1");
    ClassificationTask b = new ClassificationTask("synthetic", layers, 8, 3, "t-1");
    float[] p = new float[a.parameterCount()];
    new Rng(5).nextFloats(p, 0, p.length);
    ModelReply model = ModelReply.newBuilder().setParameters(Tensors.vector(p)).build();
    a.load(model);
    b.load(model);
    for (int round = 0; round < 4; round++) {
      GradientTask.Step sa = a.step();
      GradientTask.Step sb = b.step();
      float[] expected = Tensors.toFloats(sb.gradients());
      assertThat(Tensors.toFloats(sa.gradients())).isEqualTo(expected);
      assertThat(sa.loss()).isEqualTo(sb.loss());
      Tensor kept = sa.gradients();
      // a gives its buffer back (the server answered); b never does
      a.recycle(sa);
      if (round == 3) {
        // the recycled buffer is written by the next step: the old tensor must not be read after
        a.step();
        assertThat(Tensors.toFloats(kept)).isNotEqualTo(expected);
      }
    }
  }
}
