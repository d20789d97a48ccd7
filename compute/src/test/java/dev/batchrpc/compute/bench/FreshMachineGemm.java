package dev.batchrpc.compute.bench;

import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.Blas;
import dev.batchrpc.compute.cpu.JavaGemm;
import dev.batchrpc.compute.nn.Mlp;
import dev.batchrpc.compute.nn.MseLoss;
import dev.batchrpc.compute.nn.Sequential;
import dev.batchrpc.compute.random.Rng;
import dev.ludovic.netlib.blas.BLAS;
import dev.ludovic.netlib.blas.JavaBLAS;
import dev.ludovic.netlib.blas.NativeBLAS;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A plain timing harness for the CPU GEMMs of a machine without a system OpenBLAS: the trainer's
 * MLP 784-256-10 step at batch 20 and the agent policy's shapes, through netlib's Java BLAS, this
 * project's {@link JavaGemm} and (when {@code -Ddev.ludovic.netlib.blas.nativeLibPath=...} names
 * one, e.g. bytedeco's {@code libopenblas.so.0}) a native BLAS through netlib's JNI, interleaved in
 * one run so the ratios share the machine's load.
 *
 * <pre>
 * mvn -B -ntp -q -pl compute test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * java --add-modules=jdk.incubator.vector \
 *     -cp compute/target/test-classes:compute/target/classes:$(cat /tmp/cp.txt) \
 *     dev.batchrpc.compute.bench.FreshMachineGemm [seconds per measurement, default 1]
 * </pre>
 * Prints ms per call (median of 5 rounds, after a warm-up of every kernel on every shape) for each
 * GEMM shape and for a whole step; then the step through the real {@link Sequential}, which uses
 * whatever {@link Blas} selected ({@code -Ddev.batchrpc.compute.blas=netlib-java} for the old
 * choice). A second argument {@code sequential} measures only that. Run a native OpenBLAS with
 * {@code OPENBLAS_NUM_THREADS=1}, as the launcher does: with its default of one thread per core
 * it was 100x slower here on a loaded 2-core machine.
 */
public final class FreshMachineGemm {

  /** Row-major sgemm with the {@link Blas#sgemmRowMajor} contract. */
  interface Gemm {
    void sgemm(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int aOff,
               float[] b, int bOff, float beta, float[] c, int cOff);
  }

  record Impl(String name, Gemm gemm) {
  }

  record Shape(String what, boolean ta, boolean tb, int m, int n, int k, float beta) {
  }

  static Gemm netlib(BLAS blas) {
    return (ta, tb, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff) ->
        blas.sgemm(tb ? "T" : "N", ta ? "T" : "N", n, m, k, alpha, b, bOff, tb ? k : n, a, aOff,
            ta ? m : k, beta, c, cOff, n);
  }

  /**
   * An older commit's JavaGemm, renamed {@code JavaGemmBefore} and put on the class path by
   * {@code scripts/bench-trainer-step.sh --against COMMIT gemm}, or null.
   */
  static Gemm before() {
    MethodHandle h;
    try {
      Class<?> c = Class.forName("dev.batchrpc.compute.cpu.JavaGemmBefore");
      MethodHandles.Lookup lookup = MethodHandles.privateLookupIn(c, MethodHandles.lookup());
      h = lookup.findStatic(c, "sgemm", MethodType.methodType(void.class, boolean.class,
          boolean.class, int.class, int.class, int.class, float.class, float[].class, int.class,
          float[].class, int.class, float.class, float[].class, int.class));
    } catch (ClassNotFoundException e) {
      return null;
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
    return (ta, tb, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff) -> {
      try {
        h.invokeExact(ta, tb, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff);
      } catch (Throwable t) {
        throw new IllegalStateException(t);
      }
    };
  }

  static final int IN = 784;
  static final int HID = 256;
  static final int OUT = 10;
  static final int BATCH = 20;

  /** The trainer's step's five GEMMs, as Linear does them (row-major). */
  static final List<Shape> STEP = List.of(
      new Shape("fwd L1  x W1^T      ", false, true, BATCH, HID, IN, 1f),
      new Shape("fwd L2  h W2^T      ", false, true, BATCH, OUT, HID, 1f),
      new Shape("bwd L2  dy W2 (dh)  ", false, false, BATCH, HID, OUT, 0f),
      new Shape("bwd L2  dy^T h (dW2)", true, false, OUT, HID, BATCH, 1f),
      new Shape("bwd L1  dh^T x (dW1)", true, false, HID, IN, BATCH, 1f));

  static final List<Shape> POLICY = List.of(
      new Shape("policy fwd1 b=1     ", false, true, 1, 128, 4, 1f),
      new Shape("policy fwd2 b=1     ", false, true, 1, 2, 128, 1f),
      new Shape("policy fwd1 b=11    ", false, true, 11, 128, 4, 1f),
      new Shape("policy fwd2 b=11    ", false, true, 11, 2, 128, 1f),
      new Shape("policy fwd1 b=1000  ", false, true, 1000, 128, 4, 1f),
      new Shape("policy fwd2 b=1000  ", false, true, 1000, 2, 128, 1f),
      new Shape("policy dW1 b=500    ", true, false, 128, 4, 500, 1f),
      new Shape("policy dW2 b=500    ", true, false, 2, 128, 500, 1f),
      new Shape("policy dh b=500     ", false, false, 500, 128, 2, 0f),
      new Shape("square 128^3        ", false, false, 128, 128, 128, 0f),
      new Shape("square 512^3        ", false, false, 512, 512, 512, 0f));

  private FreshMachineGemm() {
  }

  public static void main(String[] args) {
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
    if (args.length > 1 && args[1].equals("sequential")) {
      sequentialStep(seconds);
      return;
    }
    List<Impl> impls = new ArrayList<>();
    impls.add(new Impl("netlib Java", netlib(JavaBLAS.getInstance())));
    impls.add(new Impl("JavaGemm", JavaGemm::sgemm));
    Gemm before = before();
    if (before != null) {
      impls.add(new Impl("JavaGemm before", before));
    }
    if (System.getProperty(Blas.NATIVE_LIB_PATH) != null) {
      impls.add(new Impl("native", netlib(NativeBLAS.getInstance())));
    }
    System.out.println("netlib Java BLAS: " + JavaBLAS.getInstance().getClass().getSimpleName()
        + "; Blas selected: " + Blas.name());
    Rng rng = new Rng(7);
    List<String> names = new ArrayList<>();
    List<Runner> runners = new ArrayList<>();
    for (Shape s : STEP) {
      names.add(s.what);
      runners.add(shapeRunner(s, rng));
    }
    names.add("step (fwd+bwd, b=20)");
    runners.add(stepRunner(rng));
    for (Shape s : POLICY) {
      names.add(s.what);
      runners.add(shapeRunner(s, rng));
    }
    // warm every kernel on every shape first, so no row pays for a JIT compilation
    for (int round = 0; round < 3; round++) {
      for (Runner r : runners) {
        for (Impl i : impls) {
          time(r.with(i.gemm), 0.05);
        }
      }
    }
    header(impls);
    for (int i = 0; i < runners.size(); i++) {
      row(names.get(i), impls, runners.get(i), seconds);
    }
    sequentialStep(seconds);
  }

  /** The real layers' step (as the trainer's ClassificationTask), through whatever Blas chose. */
  static void sequentialStep(double seconds) {
    Rng rng = new Rng(7);
    Sequential model = Mlp.create(new Rng(3), IN, HID, OUT);
    float[] x = new float[BATCH * IN];
    float[] y = new float[BATCH * OUT];
    rng.nextFloats(x, 0, x.length);
    rng.nextFloats(y, 0, y.length);
    Tensor target = Tensor.of(y, BATCH, OUT);
    Runnable step = () -> {
      model.zeroGrad();
      Tensor out = model.forward(Tensor.of(x, BATCH, IN));
      MseLoss.loss(out, target);
      model.backwardParams(MseLoss.gradient(out, target));
    };
    double[] r = new double[5];
    for (int i = 0; i < r.length; i++) {
      r[i] = time(step, seconds);
    }
    System.out.printf(Locale.ROOT, "Sequential step via Blas (%s): %.3f ms%n", Blas.name(),
        median(r));
  }

  interface Runner {
    Runnable with(Gemm g);
  }

  static Runner shapeRunner(Shape s, Rng rng) {
    float[] a = new float[s.m * s.k];
    float[] b = new float[s.k * s.n];
    float[] c = new float[s.m * s.n];
    rng.nextFloats(a, 0, a.length);
    rng.nextFloats(b, 0, b.length);
    return g -> () -> g.sgemm(s.ta, s.tb, s.m, s.n, s.k, 1f, a, 0, b, 0, s.beta, c, 0);
  }

  /** The step's arithmetic as Linear, ReLU and MseLoss do it, with the GEMM pluggable. */
  static Runner stepRunner(Rng rng) {
    float[] w1 = new float[HID * IN];
    float[] b1 = new float[HID];
    float[] w2 = new float[OUT * HID];
    float[] b2 = new float[OUT];
    float[] gw1 = new float[HID * IN];
    float[] gw2 = new float[OUT * HID];
    float[] x = new float[BATCH * IN];
    float[] t = new float[BATCH * OUT];
    for (float[] f : new float[][] {w1, b1, w2, b2, x, t}) {
      rng.nextFloats(f, 0, f.length);
    }
    return g -> () -> {
      java.util.Arrays.fill(gw1, 0f);
      java.util.Arrays.fill(gw2, 0f);
      float[] h = new float[BATCH * HID];
      for (int r = 0; r < BATCH; r++) {
        System.arraycopy(b1, 0, h, r * HID, HID);
      }
      g.sgemm(false, true, BATCH, HID, IN, 1f, x, 0, w1, 0, 1f, h, 0);
      for (int i = 0; i < h.length; i++) {
        h[i] = Math.max(h[i], 0f);
      }
      float[] y = new float[BATCH * OUT];
      for (int r = 0; r < BATCH; r++) {
        System.arraycopy(b2, 0, y, r * OUT, OUT);
      }
      g.sgemm(false, true, BATCH, OUT, HID, 1f, h, 0, w2, 0, 1f, y, 0);
      float[] dy = new float[y.length];
      for (int i = 0; i < y.length; i++) {
        dy[i] = 2f * (y[i] - t[i]) / y.length;
      }
      float[] dh = new float[h.length];
      g.sgemm(false, false, BATCH, HID, OUT, 1f, dy, 0, w2, 0, 0f, dh, 0);
      g.sgemm(true, false, OUT, HID, BATCH, 1f, dy, 0, h, 0, 1f, gw2, 0);
      for (int i = 0; i < dh.length; i++) {
        dh[i] = h[i] > 0f ? dh[i] : 0f;
      }
      g.sgemm(true, false, HID, IN, BATCH, 1f, dh, 0, x, 0, 1f, gw1, 0);
    };
  }

  static void header(List<Impl> impls) {
    StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-22s", "ms per call"));
    for (Impl i : impls) {
      sb.append(String.format(Locale.ROOT, "%16s", i.name));
    }
    for (int i = 0; i < impls.size(); i++) {
      if (i != 1) {
        sb.append(String.format(Locale.ROOT, "%12s", "ratio " + (i + 1) + "/2"));
      }
    }
    System.out.println(sb);
  }

  /** Five rounds, each timing every implementation in turn; prints the medians and ratios. */
  static void row(String what, List<Impl> impls, Runner runner, double seconds) {
    double[][] ms = new double[impls.size()][5];
    for (int round = 0; round < 5; round++) {
      for (int i = 0; i < impls.size(); i++) {
        ms[i][round] = time(runner.with(impls.get(i).gemm), seconds / 5);
      }
    }
    StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-22s", what));
    double[] med = new double[impls.size()];
    for (int i = 0; i < impls.size(); i++) {
      med[i] = median(ms[i]);
      sb.append(String.format(Locale.ROOT, "%16.4f", med[i]));
    }
    for (int i = 0; i < impls.size(); i++) {
      if (i != 1) {
        sb.append(String.format(Locale.ROOT, "%11.2fx", med[i] / med[1]));
      }
    }
    System.out.println(sb);
  }

  /** Mean ms per run of r over about the given seconds (after a short warm-up). */
  static double time(Runnable r, double seconds) {
    long warm = System.nanoTime() + (long) (seconds * 0.3e9);
    while (System.nanoTime() < warm) {
      r.run();
    }
    long calls = 0;
    long t0 = System.nanoTime();
    long end = t0 + (long) (seconds * 1e9);
    long now;
    do {
      r.run();
      calls++;
      now = System.nanoTime();
    } while (now < end);
    return (now - t0) / 1e6 / calls;
  }

  static double median(double[] v) {
    double[] s = v.clone();
    java.util.Arrays.sort(s);
    return s[s.length / 2];
  }
}
