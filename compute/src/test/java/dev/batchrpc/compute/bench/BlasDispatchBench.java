package dev.batchrpc.compute.bench;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.Blas;
import dev.batchrpc.compute.cpu.JavaGemm;
import dev.batchrpc.compute.nn.Mlp;
import dev.batchrpc.compute.nn.MseLoss;
import dev.batchrpc.compute.nn.Sequential;
import dev.batchrpc.compute.random.Rng;
import dev.ludovic.netlib.blas.NativeBLAS;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The trainer's MLP 784-256-10 step at batch 20 with OpenBLAS present: each GEMM shape of the step
 * through {@link JavaGemm}, OpenBLAS (netlib's JNI, straight) and {@link Blas#sgemmRowMajor} (the
 * dispatch in use), then the whole step (FreshMachineGemm's copy of the layers' arithmetic, GEMM
 * pluggable) on 1 and on several threads at once, as the trainers of one JVM; every column of a
 * table interleaved in one run, so the ratios share the machine's load.
 *
 * <pre>
 * mvn -B -ntp -o -q -pl compute -am test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * OPENBLAS_NUM_THREADS=1 java --add-modules=jdk.incubator.vector \
 *     -Ddev.ludovic.netlib.blas.nativeLibPath=/path/to/libopenblas.so.0 \
 *     -cp compute/target/test-classes:compute/target/classes:$(cat /tmp/cp.txt) \
 *     dev.batchrpc.compute.bench.BlasDispatchBench [seconds per measurement, default 1] [threads, default 5]
 * </pre>
 * With {@code sequential} as a third argument it measures only the real {@link Sequential}'s
 * step (as the trainer's task: zero, forward, loss, backward) through whatever {@link Blas} chose,
 * on 1 thread and on the given number of threads; run it in JVMs alternating between
 * {@code -Ddev.batchrpc.compute.blas=openblas} (every shape to OpenBLAS, the choice before the
 * dispatch), {@code =java} and the default.
 *
 * <p>Threaded figures are steps per second of all threads together and ms per step of one
 * thread (its wall time: on 2 cores 5 threads share them); medians of 5 rounds.
 */
public final class BlasDispatchBench {

  private BlasDispatchBench() {
  }

  public static void main(String[] args) throws InterruptedException {
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    System.out.println("Blas selected: " + Blas.name() + "; OPENBLAS_NUM_THREADS="
        + System.getenv("OPENBLAS_NUM_THREADS") + "; OPENBLAS_CORETYPE="
        + System.getenv("OPENBLAS_CORETYPE"));
    if (args.length > 2 && args[2].equals("sequential")) {
      List<Step> steps = List.of(new Step("Sequential via Blas", BlasDispatchBench::sequential));
      for (int t : new int[] {1, threads}) {
        concurrent(steps, t, seconds);
      }
      return;
    }
    List<FreshMachineGemm.Impl> impls = new ArrayList<>();
    // FreshMachineGemm's tables take their ratios over the second column
    impls.add(new FreshMachineGemm.Impl("OpenBLAS", FreshMachineGemm.netlib(
        NativeBLAS.getInstance())));
    impls.add(new FreshMachineGemm.Impl("JavaGemm", JavaGemm::sgemm));
    impls.add(new FreshMachineGemm.Impl("Blas (in use)", Blas::sgemmRowMajor));
    Rng rng = new Rng(7);
    List<FreshMachineGemm.Runner> runners = new ArrayList<>();
    for (FreshMachineGemm.Shape s : FreshMachineGemm.STEP) {
      runners.add(FreshMachineGemm.shapeRunner(s, rng));
    }
    for (int round = 0; round < 3; round++) {
      for (FreshMachineGemm.Runner r : runners) {
        for (FreshMachineGemm.Impl i : impls) {
          FreshMachineGemm.time(r.with(i.gemm()), 0.05);
        }
      }
    }
    FreshMachineGemm.header(impls);
    for (int i = 0; i < runners.size(); i++) {
      FreshMachineGemm.row(FreshMachineGemm.STEP.get(i).what(), impls, runners.get(i), seconds);
    }
    List<Step> steps = new ArrayList<>();
    for (FreshMachineGemm.Impl i : impls) {
      steps.add(new Step("step via " + i.name(), () -> FreshMachineGemm.stepRunner(
          new Rng(7)).with(i.gemm())));
    }
    for (int t : new int[] {1, threads}) {
      concurrent(steps, t, seconds);
    }
  }

  /** A step to time; {@code make} gives each thread its own (its own model and data). */
  record Step(String name, java.util.function.Supplier<Runnable> make) {
  }

  /** The trainer task's step on the real layers, through whatever Blas chose. */
  static Runnable sequential() {
    Rng rng = new Rng(7);
    Sequential model = Mlp.create(new Rng(3), FreshMachineGemm.IN, FreshMachineGemm.HID,
        FreshMachineGemm.OUT);
    int batch = FreshMachineGemm.BATCH;
    float[] x = new float[batch * FreshMachineGemm.IN];
    float[] y = new float[batch * FreshMachineGemm.OUT];
    rng.nextFloats(x, 0, x.length);
    rng.nextFloats(y, 0, y.length);
    Tensor target = Tensor.of(y, batch, FreshMachineGemm.OUT);
    return () -> {
      model.zeroGrad();
      Tensor out = model.forward(Tensor.of(x, batch, FreshMachineGemm.IN));
      MseLoss.loss(out, target);
      model.backwardParams(MseLoss.gradient(out, target));
    };
  }

  /**
   * Each step on {@code threads} threads at once for about {@code seconds}, the steps in turn, 5
   * rounds (after one warm-up round); prints the medians.
   */
  static void concurrent(List<Step> steps, int threads, double seconds)
      throws InterruptedException {
    List<List<Runnable>> perThread = new ArrayList<>();
    for (Step s : steps) {
      List<Runnable> rs = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        rs.add(s.make().get());
      }
      perThread.add(rs);
    }
    double[][] rate = new double[steps.size()][5];
    for (int round = -1; round < 5; round++) {
      for (int s = 0; s < steps.size(); s++) {
        double r = stepsPerSecond(perThread.get(s), round < 0 ? 0.3 : seconds);
        if (round >= 0) {
          rate[s][round] = r;
        }
      }
    }
    System.out.printf(Locale.ROOT, "%d thread(s) at once:%n", threads);
    double first = FreshMachineGemm.median(rate[0]);
    for (int s = 0; s < steps.size(); s++) {
      double med = FreshMachineGemm.median(rate[s]);
      StringBuilder all = new StringBuilder();
      for (double r : rate[s]) {
        all.append(String.format(Locale.ROOT, " %.0f", r));
      }
      System.out.printf(Locale.ROOT, "  %-28s %8.0f steps/s (%6.3f ms per step per thread; "
          + "%.2fx the first row; rounds:%s)%n", steps.get(s).name(), med, threads * 1e3 / med,
          med / first, all);
    }
  }

  /** All runnables at once, one thread each, for about {@code seconds}: total runs per second. */
  static double stepsPerSecond(List<Runnable> runs, double seconds) throws InterruptedException {
    AtomicBoolean stop = new AtomicBoolean();
    long[] counts = new long[runs.size()];
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> ts = new ArrayList<>();
    for (int t = 0; t < runs.size(); t++) {
      int id = t;
      Runnable r = runs.get(t);
      Thread th = new Thread(() -> {
        try {
          start.await();
        } catch (InterruptedException e) {
          return;
        }
        long n = 0;
        while (!stop.get()) {
          r.run();
          n++;
        }
        counts[id] = n;
      });
      th.start();
      ts.add(th);
    }
    long t0 = System.nanoTime();
    start.countDown();
    Thread.sleep((long) (seconds * 1e3));
    stop.set(true);
    for (Thread th : ts) {
      th.join();
    }
    double elapsed = (System.nanoTime() - t0) / 1e9;
    long total = 0;
    for (long c : counts) {
      total += c;
    }
    return total / elapsed;
  }
}
