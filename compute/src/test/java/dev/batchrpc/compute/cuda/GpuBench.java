package dev.batchrpc.compute.cuda;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.Backends;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.cpu.CpuBackend;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import jcuda.driver.CUdevice_attribute;

/**
 * The device check's benchmark: the parameter-server update, the agent round and SGEMM on the GPU
 * (when one is usable) and on the CPU for comparison. Prints a table and writes
 * {@code gpu-bench.csv} into the folder given as {@code --out DIR} (default: {@code $OUT}, else
 * the working folder).
 *
 * <p>Method: warm up, then time many back-to-back calls between two {@code cuCtxSynchronize}
 * (GPU) or plain calls (CPU) with {@link System#nanoTime()}; report the mean per call. Bandwidth
 * counts the bytes each kernel must move at least once (reads + writes of every array it
 * touches), against the theoretical peak {@code memory clock x bus width x 2 (DDR)}.
 *
 * <p>Agent rows: "policyAct" uploads a [batch x 128] dropout mask and the uniforms every round
 * (the first H100 run: 4.6 ms at 100,000 observers, mostly that upload); "policyActKeyed" draws
 * them in the kernel from (seed, step, observer) and uploads only the states and the observer
 * ids ("ids+kernel" leaves out the state upload and the actions' read-back).
 *
 * <p>Exit code 0 when every part ran (targets missed are reported, not failed); 1 when a part
 * threw.
 */
public final class GpuBench {

  /** The ResNet-50-sized parameter vector of the PS benchmark (as the tutorial's model). */
  static final int PS_PARAMS = 23_569_502;
  static final int TRAINERS = 5;
  static final int[] OBSERVERS = {10, 1_000, 100_000};
  static final int IN = 4;
  static final int HIDDEN = 128;
  static final int OUT = 2;
  /** The seed of the keyed-draw benchmark rows. */
  static final long KEY_SEED = 0x5EED;

  private record Row(String backend, String bench, String size, int reps, String metric,
                     double value, String unit, String target, String note) {
  }

  private final List<Row> rows = new ArrayList<>();
  private boolean failed;

  public static void main(String[] args) throws IOException {
    Path outDir = Paths.get(System.getenv().getOrDefault("OUT", "."));
    boolean skipCpu = false;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--out") && i + 1 < args.length) {
        outDir = Paths.get(args[++i]);
      } else if (args[i].equals("--skip-cpu")) {
        skipCpu = true;
      }
    }
    GpuBench bench = new GpuBench();
    System.out.println("probe: " + Backends.probeReport());
    CudaRuntime.Probe probe = CudaRuntime.probe();
    if (probe.available()) {
      bench.part("gpu", () -> {
        try (CudaBackend gpu = new CudaBackend()) {
          bench.runGpu(gpu);
        }
      });
    } else {
      System.out.println("GPU part skipped: " + probe.reason());
      bench.rows.add(new Row("cuda", "probe", "-", 0, "available", 0, "bool", "1",
          probe.reason().replace(',', ';')));
    }
    if (!skipCpu) {
      bench.part("cpu", () -> {
        try (CpuBackend cpu = new CpuBackend()) {
          bench.runCpu(cpu);
        }
      });
    }
    bench.print();
    Files.createDirectories(outDir);
    Path csv = outDir.resolve("gpu-bench.csv");
    bench.writeCsv(csv);
    System.out.println("wrote " + csv.toAbsolutePath());
    System.exit(bench.failed ? 1 : 0);
  }

  private interface Part {
    void run() throws Exception;
  }

  private void part(String name, Part p) {
    try {
      p.run();
    } catch (Throwable t) {
      failed = true;
      System.out.println("BENCH PART '" + name + "' FAILED: " + t);
      t.printStackTrace(System.out);
      rows.add(new Row(name, "error", "-", 0, "error", 0, "-", "-",
          String.valueOf(t).replace(',', ';').replace('\n', ' ')));
    }
  }

  // ---- GPU ----------------------------------------------------------------------------------

  private void runGpu(CudaBackend gpu) {
    String be = gpu.name();
    double peak = peakGbPerSecond(gpu);
    System.out.printf(Locale.ROOT, "device %s: %d SMs, theoretical memory bandwidth %.0f GB/s%n",
        gpu.deviceName(),
        gpu.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), peak);
    rows.add(new Row(be, "memory peak", "-", 0, "bandwidth", peak, "GB/s", "-",
        "memory clock x bus width x 2"));
    psBenchmarks(gpu, be, peak, 100, gpu::synchronize);
    agentBenchmarks(gpu, be, new int[] {2000, 2000, 300}, gpu::synchronize, true);
    sgemmBenchmark(gpu, be, 4096, 20, gpu::synchronize);
  }

  /** Peak DRAM bandwidth from the driver's memory clock (kHz) and bus width (bits), DDR x2. */
  private static double peakGbPerSecond(CudaBackend gpu) {
    try {
      int clockKhz = gpu.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
      int busBits = gpu.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
      System.out.printf(Locale.ROOT, "memory clock %d kHz, bus width %d bits%n", clockKhz,
          busBits);
      return clockKhz * 1e3 * (busBits / 8.0) * 2 / 1e9;
    } catch (RuntimeException e) {
      // Newer drivers may drop the attribute; the bandwidth rows then carry no percentage.
      System.out.println("memory clock/bus width not reported by the driver: " + e);
      return 0;
    }
  }

  // ---- CPU ----------------------------------------------------------------------------------

  private void runCpu(CpuBackend cpu) {
    String be = cpu.name();
    psBenchmarks(cpu, be, 0, 3, () -> { });
    agentBenchmarks(cpu, be, new int[] {200, 20, 2}, () -> { }, false);
    sgemmBenchmark(cpu, be, 1024, 2, () -> { });
  }

  // ---- shared bodies ------------------------------------------------------------------------

  private void psBenchmarks(Backend b, String be, double peak, int reps, Runnable sync) {
    int n = PS_PARAMS;
    SplittableRandom rnd = new SplittableRandom(1);
    float[] grads = new float[TRAINERS * n];
    for (int i = 0; i < grads.length; i++) {
      grads[i] = (float) (rnd.nextDouble() - 0.5);
    }
    try (DeviceArray stacked = b.upload(grads);
         DeviceArray gradOut = b.allocate(n);
         DeviceArray params = b.allocate(n);
         DeviceArray buf = b.allocate(n);
         DeviceArray m = b.allocate(n);
         DeviceArray v = b.allocate(n)) {
      grads = null; // let the host copy go before the CPU part allocates its own
      String size = TRAINERS + " x " + n;
      // averageAndSgd, momentum 0.9, not the first step: reads T rows + params + buf, writes
      // gradOut + params + buf.
      b.averageAndSgd(stacked, TRAINERS, gradOut, params, buf, 0.01f, 0.9f, true);
      double t = time(reps, sync,
          () -> b.averageAndSgd(stacked, TRAINERS, gradOut, params, buf, 0.01f, 0.9f, false));
      bandwidthRow(be, "PS averageAndSgd", size, reps, t, (TRAINERS + 5L) * n * 4, peak);
      t = time(reps, sync, () -> b.sgdMomentum(params, gradOut, buf, 0.01f, 0.9f, false));
      bandwidthRow(be, "PS sgdMomentum", "" + n, reps, t, 5L * n * 4, peak);
      t = time(reps, sync, () -> b.sumAverage(stacked, TRAINERS, n, gradOut));
      bandwidthRow(be, "PS sumAverage", size, reps, t, (TRAINERS + 1L) * n * 4, peak);
      long[] step = {1};
      t = time(reps, sync,
          () -> b.adam(params, gradOut, m, v, step[0]++, 1e-2f, 0.9f, 0.999f, 1e-8f));
      bandwidthRow(be, "adam", "" + n, reps, t, 7L * n * 4, peak);
    }
  }

  private void bandwidthRow(String be, String bench, String size, int reps, double seconds,
                            long bytes, double peak) {
    double gbs = bytes / seconds / 1e9;
    String target = peak > 0 ? ">= 70% of " + Math.round(peak) + " GB/s" : "-";
    String note = peak > 0
        ? String.format(Locale.ROOT, "%.1f%% of peak; %.3f ms/round", 100 * gbs / peak,
            seconds * 1e3)
        : String.format(Locale.ROOT, "%.3f ms/round", seconds * 1e3);
    if (peak > 0 && gbs < 0.7 * peak) {
      note += "; BELOW TARGET";
    }
    rows.add(new Row(be, bench, size, reps, "bandwidth", gbs, "GB/s", target, note));
  }

  private void agentBenchmarks(Backend b, String be, int[] repsPerSize, Runnable sync,
                               boolean gpu) {
    SplittableRandom rnd = new SplittableRandom(2);
    int nParams = HIDDEN * IN + HIDDEN + OUT * HIDDEN + OUT;
    float[] p = new float[nParams];
    for (int i = 0; i < nParams; i++) {
      p[i] = (float) ((rnd.nextDouble() - 0.5) * 0.5);
    }
    for (int s = 0; s < OBSERVERS.length; s++) {
      int batch = OBSERVERS[s];
      int reps = repsPerSize[s];
      float[] states = new float[batch * IN];
      float[] mask = new float[batch * HIDDEN];
      float[] u = new float[batch];
      for (int i = 0; i < states.length; i++) {
        states[i] = (float) (rnd.nextDouble() * 2 - 1);
      }
      for (int i = 0; i < mask.length; i++) {
        mask[i] = rnd.nextDouble() < 0.6 ? 0f : 2.5f;
      }
      for (int i = 0; i < batch; i++) {
        u[i] = (float) rnd.nextDouble();
      }
      int[] actions = new int[batch];
      try (DeviceArray dp = b.upload(p);
           DeviceArray ds = b.upload(states);
           DeviceArray dm = b.upload(mask);
           DeviceArray du = b.upload(u);
           DeviceArray probs = b.allocate(batch * OUT)) {
        String size = batch + " observers";
        String target = batch == 100_000 && gpu ? "< 1000 us" : "-";
        if (gpu) {
          KernelBench g = ((CudaBackend) b).kernelBench();
          double t = time(reps, sync,
              () -> g.policyAct(dp, IN, HIDDEN, OUT, batch, ds, dm, du, probs));
          latencyRow(be, "agent policyAct kernel-only", size, reps, t, target);
        }
        double t = time(reps, sync, () -> {
          b.copyIn(states, 0, ds, 0, states.length);
          b.copyIn(mask, 0, dm, 0, mask.length);
          b.copyIn(u, 0, du, 0, u.length);
          b.policyAct(dp, IN, HIDDEN, OUT, batch, ds, dm, du, probs, actions);
        });
        latencyRow(be, "agent policyAct end-to-end", size, reps, t, target);
        if (gpu) {
          // the [batch x hidden] dropout mask is most of the bytes uploaded (128 floats a row
          // against 5 for state and uniform): what a device-side mask generator would save
          t = time(reps, sync, () -> {
            b.copyIn(states, 0, ds, 0, states.length);
            b.copyIn(u, 0, du, 0, u.length);
            b.policyAct(dp, IN, HIDDEN, OUT, batch, ds, dm, du, probs, actions);
          });
          latencyRow(be, "agent policyAct e2e mask resident", size, reps, t, "-");
        }
        // keyed draws: the masks and uniforms are generated in the kernel from (seed, step,
        // observer); per round only the states and the observer ids go up, the actions come back
        int[] ids = new int[batch];
        for (int i = 0; i < batch; i++) {
          ids[i] = i;
        }
        long[] step = {0};
        if (gpu) {
          KernelBench g = ((CudaBackend) b).kernelBench();
          t = time(reps, sync, () -> g.policyActKeyed(dp, IN, HIDDEN, OUT, batch, ds, ids,
              KEY_SEED, step[0]++, 0.6f, probs));
          latencyRow(be, "agent policyActKeyed ids+kernel", size, reps, t, "-");
        }
        t = time(reps, sync, () -> {
          b.copyIn(states, 0, ds, 0, states.length);
          b.policyActKeyed(dp, IN, HIDDEN, OUT, batch, ds, ids, KEY_SEED, step[0]++, 0.6f, probs,
              actions);
        });
        latencyRow(be, "agent policyActKeyed end-to-end", size, reps, t, target);
      }
    }
  }

  private void latencyRow(String be, String bench, String size, int reps, double seconds,
                          String target) {
    double us = seconds * 1e6;
    String note = target.startsWith("<") && us >= 1000 ? "BELOW TARGET" : "";
    rows.add(new Row(be, bench, size, reps, "latency", us, "us/round", target, note));
  }

  private void sgemmBenchmark(Backend b, String be, int n, int reps, Runnable sync) {
    SplittableRandom rnd = new SplittableRandom(3);
    float[] a = new float[n * n];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) (rnd.nextDouble() - 0.5);
    }
    try (DeviceArray da = b.upload(a);
         DeviceArray db = b.upload(a);
         DeviceArray dc = b.allocate(n * n)) {
      double t = time(reps, sync, () -> b.sgemm(false, false, n, n, n, 1f, da, db, 0f, dc));
      double tflops = 2.0 * n * n * n / t / 1e12;
      rows.add(new Row(be, "sgemm", n + "^3", reps, "throughput", tflops, "TFLOP/s", "-",
          String.format(Locale.ROOT, "%.3f ms/call; FP32 (no TF32)", t * 1e3)));
    }
  }

  /** Mean seconds per call over {@code reps} calls, after a warm-up of min(reps, 10) calls. */
  private static double time(int reps, Runnable sync, Runnable call) {
    for (int i = 0; i < Math.min(reps, 10); i++) {
      call.run();
    }
    sync.run();
    long t0 = System.nanoTime();
    for (int i = 0; i < reps; i++) {
      call.run();
    }
    sync.run();
    return (System.nanoTime() - t0) / 1e9 / reps;
  }

  // ---- output -------------------------------------------------------------------------------

  private void print() {
    String fmt = "%-28s %-30s %-20s %6s %14s %-10s %-22s %s%n";
    System.out.println();
    System.out.printf(Locale.ROOT, fmt, "backend", "benchmark", "size", "reps", "value", "unit",
        "target", "note");
    for (Row r : rows) {
      System.out.printf(Locale.ROOT, fmt, trim(r.backend, 28), r.bench, r.size, r.reps,
          String.format(Locale.ROOT, "%.3f", r.value), r.unit, r.target, r.note);
    }
  }

  private static String trim(String s, int n) {
    return s.length() <= n ? s : s.substring(0, n);
  }

  private void writeCsv(Path csv) throws IOException {
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8))) {
      w.println("backend,benchmark,size,reps,metric,value,unit,target,note");
      for (Row r : rows) {
        w.println(String.join(",", r.backend.replace(',', ';'), r.bench, r.size,
            String.valueOf(r.reps), r.metric, String.format(Locale.ROOT, "%.4f", r.value), r.unit,
            r.target, r.note.replace(',', ';')));
      }
    }
  }
}
