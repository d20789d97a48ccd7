package dev.batchrpc.trainer;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.Blas;
import dev.batchrpc.compute.nn.Layer;
import dev.batchrpc.compute.nn.MseLoss;
import dev.batchrpc.compute.nn.Sequential;
import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Where a trainer's CPU time per round goes, in one JVM: the MLP task's step (as in
 * {@code batch-rpc bench ps}: {@code mse}, or {@code synthetic}, the trainer's default) taken
 * apart into its phases, each timed around the real code, plus the whole {@link
 * ClassificationTask#step()} and {@link ClassificationTask#load} as the trainer calls them.
 *
 * <pre>
 * mvn -B -ntp -o -q -pl compute,trainer-service -am test-compile dependency:build-classpath \
 *     -Dmdep.outputFile=/tmp/cp.txt
 * java --add-modules=jdk.incubator.vector \
 *     -cp trainer-service/target/test-classes:trainer-service/target/classes:$(cat /tmp/cp.txt) \
 *     dev.batchrpc.trainer.TrainerStepBench [seconds per block, default 1] [layers, default
 *     784,256,10] [batch, default 20]
 * </pre>
 * Prints microseconds per round, the median of 5 blocks after a warm-up (the phases and the
 * whole calls are interleaved block by block, so they share the machine's load), and the phases
 * the task did differently before (drawing the batch, encoding the gradients) as they were.
 * {@code whole} as the first argument times only {@code step()} and {@code load}, through the
 * public API: with an older commit's classes first on the class path it gives the before figure
 * (scripts/bench-trainer-step-ab.sh runs both, alternating).
 */
public final class TrainerStepBench {

  private TrainerStepBench() {
  }

  /** Phases of one step, in order. */
  private static final List<String> PHASES = List.of("batch (inputs, labels)",
      "forward L1 (GEMM + bias)", "forward ReLU", "forward L2", "loss + loss gradient",
      "backward, gradients written fresh", "encode gradients (recycled buffer)");

  /** The phases as the task did them before (measured in the same run, apart). */
  private static final List<String> BEFORE = List.of("batch, as before (draw by draw)",
      "zero grads, as before", "  then backward L2 (dh, dW2, db2)", "  then backward ReLU",
      "  then backward L1 (dW1, db1)", "encode, as before (Tensors.vector)");

  public static void main(String[] args) {
    boolean whole = args.length > 0 && args[0].equals("whole");
    if (whole) {
      args = Arrays.copyOfRange(args, 1, args.length);
    }
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
    int[] layers = args.length > 1 ? Arrays.stream(args[1].split(",")).mapToInt(Integer::parseInt)
        .toArray() : new int[] {784, 256, 10};
    int batch = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    if (layers.length != 3) {
      throw new IllegalArgumentException("the phases assume one hidden layer: in,hidden,out");
    }
    System.out.println("Blas: " + Blas.name() + "; layers " + Arrays.toString(layers) + " batch "
        + batch);
    for (String kind : List.of("mse", "synthetic")) {
      if (whole) {
        whole(kind, layers, batch, seconds);
      } else {
        run(kind, layers, batch, seconds);
      }
    }
  }

  private static void run(String kind, int[] layers, int batch, double seconds) {
    ClassificationTask task = new ClassificationTask(kind, layers, batch, 0, "t-0");
    ClassificationTask phased = new ClassificationTask(kind, layers, batch, 0, "t-1");
    Sequential model = phased.model();
    float[] params = new float[model.paramCount()];
    new Rng(11).nextFloats(params, 0, params.length);
    for (int i = 0; i < params.length; i++) {
      params[i] = (params[i] - 0.5f) * 0.1f;
    }
    ModelReply reply = ModelReply.newBuilder().setParameters(Tensors.vector(params)).build();
    task.load(reply);
    phased.load(reply);
    int in = layers[0];
    int out = layers[2];
    float[] x = new float[batch * in];
    float[] y = new float[batch * out];
    long[] phaseNanos = new long[PHASES.size()];
    List<Layer> ls = model.layers();
    Runnable phasedStep = () -> {
      long t0 = System.nanoTime();
      phased.nextBatch(x, y);
      long t1 = System.nanoTime();
      Tensor h = ls.get(0).forward(Tensor.of(x, batch, in));
      long t2 = System.nanoTime();
      Tensor r = ls.get(1).forward(h);
      long t3 = System.nanoTime();
      Tensor o = ls.get(2).forward(r);
      long t4 = System.nanoTime();
      Tensor target = Tensor.of(y, batch, out);
      MseLoss.loss(o, target);
      Tensor g = MseLoss.gradient(o, target);
      long t5 = System.nanoTime();
      model.backwardParamsFresh(g);
      long t6 = System.nanoTime();
      GradientTask.Step done = new GradientTask.Step(0f, phased.encode());
      long t7 = System.nanoTime();
      phased.recycle(done);
      long[] t = {t0, t1, t2, t3, t4, t5, t6, t7};
      for (int i = 0; i < phaseNanos.length; i++) {
        phaseNanos[i] += t[i + 1] - t[i];
      }
    };
    long[] beforeNanos = new long[BEFORE.size()];
    boolean learnable = kind.equals("synthetic");
    float[] teacher = teacher(layers, 0);
    Rng data = new Rng(0 * 1_000_003L + "t-2".hashCode());
    Runnable before = () -> {
      long t0 = System.nanoTime();
      float[] bx = new float[batch * in];
      float[] by = new float[batch * out];
      batchBefore(learnable, teacher, data, in, out, batch, bx, by);
      long t1 = System.nanoTime();
      model.zeroGrad();
      long t2 = System.nanoTime();
      Tensor h = ls.get(0).forward(Tensor.of(x, batch, in));
      Tensor o = ls.get(2).forward(ls.get(1).forward(h));
      Tensor g = MseLoss.gradient(o, Tensor.of(y, batch, out));
      long t3 = System.nanoTime();
      Tensor gr = ls.get(2).backward(g);
      long t4 = System.nanoTime();
      Tensor gh = ls.get(1).backward(gr);
      long t5 = System.nanoTime();
      ls.get(0).backwardParamsOnly(gh);
      long t6 = System.nanoTime();
      Tensors.vector(model.grads());
      long t7 = System.nanoTime();
      long[] d = {t1 - t0, t2 - t1, t4 - t3, t5 - t4, t6 - t5, t7 - t6};
      for (int i = 0; i < d.length; i++) {
        beforeNanos[i] += d[i];
      }
    };
    Runnable step = () -> task.recycle(task.step());
    Runnable load = () -> task.load(reply);
    // warm-up
    for (int i = 0; i < 3; i++) {
      time(phasedStep, 0.3 * seconds);
      time(before, 0.3 * seconds);
      time(step, 0.3 * seconds);
      time(load, 0.1 * seconds);
    }
    int blocks = 5;
    double[][] phaseUs = new double[PHASES.size()][blocks];
    double[] stepUs = new double[blocks];
    double[][] beforeUs = new double[BEFORE.size()][blocks];
    double[] loadUs = new double[blocks];
    for (int b = 0; b < blocks; b++) {
      Arrays.fill(phaseNanos, 0);
      long calls = time(phasedStep, seconds);
      for (int i = 0; i < PHASES.size(); i++) {
        phaseUs[i][b] = phaseNanos[i] / 1e3 / calls;
      }
      Arrays.fill(beforeNanos, 0);
      long beforeCalls = time(before, seconds / 2);
      for (int i = 0; i < BEFORE.size(); i++) {
        beforeUs[i][b] = beforeNanos[i] / 1e3 / beforeCalls;
      }
      stepUs[b] = us(step, seconds);
      loadUs[b] = us(load, seconds / 4);
    }
    System.out.printf(Locale.ROOT, "%n%s task, us per round (median of %d blocks)%n", kind, blocks);
    double sum = 0;
    for (int i = 0; i < PHASES.size(); i++) {
      double m = median(phaseUs[i]);
      sum += m;
      System.out.printf(Locale.ROOT, "  %-36s %9.1f%n", PHASES.get(i), m);
    }
    System.out.printf(Locale.ROOT, "  %-36s %9.1f%n", "sum of the phases", sum);
    for (int i = 0; i < BEFORE.size(); i++) {
      System.out.printf(Locale.ROOT, "  %-36s %9.1f%n", BEFORE.get(i), median(beforeUs[i]));
    }
    System.out.printf(Locale.ROOT, "  %-36s %9.1f%n", "ClassificationTask.step()", median(stepUs));
    System.out.printf(Locale.ROOT, "  %-36s %9.1f%n", "ClassificationTask.load(reply)",
        median(loadUs));
  }

  /** The teacher as the task draws it. */
  static float[] teacher(int[] layers, long seed) {
    int in = layers[0];
    int classes = layers[layers.length - 1];
    Rng teacherRng = new Rng(seed ^ 0x5eed_7eac_4e12L);
    float[] teacher = new float[classes * in];
    for (int i = 0; i < teacher.length; i++) {
      teacher[i] = 2 * teacherRng.nextFloat() - 1;
    }
    return teacher;
  }

  /**
   * The batch as the task drew it before: one draw, and one class's score, at a time (also the
   * reference of {@link ClassificationTaskTest}).
   */
  static void batchBefore(boolean learnable, float[] teacher, Rng data, int in,
                                  int classes, int batch, float[] x, float[] y) {
    for (int b = 0; b < batch; b++) {
      int off = b * in;
      for (int i = 0; i < in; i++) {
        x[off + i] = 2 * data.nextFloat() - 1;
      }
      int label;
      if (!learnable) {
        label = (int) (data.nextFloat() * classes) % classes;
      } else {
        label = 0;
        double bestScore = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < classes; c++) {
          double s = 0;
          for (int i = 0; i < in; i++) {
            s += teacher[c * in + i] * x[off + i];
          }
          if (s > bestScore) {
            bestScore = s;
            label = c;
          }
        }
      }
      y[b * classes + label] = 1f;
    }
  }

  /**
   * Only the whole calls, through the public API (so that the classes of another commit can be
   * put first on the class path): {@code whole} as the first argument.
   */
  private static void whole(String kind, int[] layers, int batch, double seconds) {
    ClassificationTask task = new ClassificationTask(kind, layers, batch, 0, "t-0");
    float[] params = new float[task.parameterCount()];
    new Rng(11).nextFloats(params, 0, params.length);
    for (int i = 0; i < params.length; i++) {
      params[i] = (params[i] - 0.5f) * 0.1f;
    }
    ModelReply reply = ModelReply.newBuilder().setParameters(Tensors.vector(params)).build();
    task.load(reply);
    boolean[] recycle = {true};
    Runnable step = () -> {
      GradientTask.Step s = task.step();
      if (recycle[0]) {
        try {
          task.recycle(s);
        } catch (AbstractMethodError | NoSuchMethodError e) { // an older GradientTask
          recycle[0] = false;
        }
      }
    };
    Runnable load = () -> task.load(reply);
    for (int i = 0; i < 3; i++) {
      time(step, 0.5 * seconds);
      time(load, 0.1 * seconds);
    }
    int blocks = 5;
    double[] stepUs = new double[blocks];
    double[] loadUs = new double[blocks];
    for (int b = 0; b < blocks; b++) {
      stepUs[b] = us(step, seconds);
      loadUs[b] = us(load, seconds / 4);
    }
    System.out.printf(Locale.ROOT, "%s: step %.1f us, load %.1f us (median of %d blocks)%n", kind,
        median(stepUs), median(loadUs), blocks);
  }

  private static double us(Runnable r, double seconds) {
    long t0 = System.nanoTime();
    long calls = time(r, seconds);
    return (System.nanoTime() - t0) / 1e3 / calls;
  }

  /** Runs r for about the given seconds; returns the calls. */
  private static long time(Runnable r, double seconds) {
    long end = System.nanoTime() + (long) (seconds * 1e9);
    long calls = 0;
    do {
      r.run();
      calls++;
    } while (System.nanoTime() < end);
    return calls;
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
