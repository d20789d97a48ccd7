package dev.batchrpc.compute.cuda;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import dev.batchrpc.compute.AdamScalars;
import dev.batchrpc.compute.random.KeyedDraws;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

/**
 * The launches of {@link CudaBackend}'s round kernels: the PTX module ({@code kernels.ptx}, built
 * from {@code compute/src/main/cuda/kernels.cu}), its functions, their grid shapes and arguments,
 * and the device scratch the policy kernels write. Every launch takes arguments the backend has
 * checked (see {@link dev.batchrpc.compute.AbstractBackend}) and queues work on the default stream.
 *
 * <p>Thread confinement: the backend's, with its context current.
 */
final class CudaKernels implements AutoCloseable {

  private static final int BLOCK = 256;
  private static final int SHARED_BYTES_LIMIT = 48 * 1024;
  /** The guard word's value when every uniform is in range (POLICY_GUARD_CLEAR in kernels.cu). */
  private static final int GUARD_CLEAR = 0x7fffffff;

  private final CUmodule module = new CUmodule();
  private final int smCount;
  private final CUfunction[] sumAverage = new CUfunction[5];
  private final CUfunction[] sgd = new CUfunction[5];
  private final CUfunction[] averageSgd = new CUfunction[5];
  private final CUfunction[] adam = new CUfunction[5];
  private final CUfunction policyAct = new CUfunction();
  private final CUfunction checkUniforms = new CUfunction();
  private final CUfunction policyActKeyedKernel = new CUfunction();
  /** The guard word of policy_act, allocated on first use. */
  private final DeviceScratch policyGuard = new DeviceScratch();
  /** The actions of the last policy round, read back by the caller's call. */
  private final DeviceScratch actionsScratch = new DeviceScratch();
  /** Device copy of a keyed round's observer ids. */
  private final DeviceScratch observersScratch = new DeviceScratch();

  /** Loads the module into the current context; {@code smCount} sizes the grids. */
  CudaKernels(int smCount) {
    this.smCount = smCount;
    cuModuleLoadData(module, loadPtx());
    for (int w : new int[] {1, 2, 4}) {
      sumAverage[w] = function("sum_average_v" + w);
      sgd[w] = function("sgd_momentum_v" + w);
      averageSgd[w] = function("average_sgd_v" + w);
      adam[w] = function("adam_v" + w);
    }
    cuModuleGetFunction(policyAct, module, "policy_act");
    cuModuleGetFunction(checkUniforms, module, "check_uniforms");
    cuModuleGetFunction(policyActKeyedKernel, module, "policy_act_keyed");
  }

  private CUfunction function(String name) {
    CUfunction f = new CUfunction();
    cuModuleGetFunction(f, module, name);
    return f;
  }

  private static byte[] loadPtx() {
    try (InputStream in = CudaBackend.class.getResourceAsStream("kernels.ptx")) {
      if (in == null) {
        throw new IllegalStateException("kernels.ptx missing from the class path next to "
            + CudaBackend.class.getName());
      }
      byte[] ptx = in.readAllBytes();
      return Arrays.copyOf(ptx, ptx.length + 1); // cuModuleLoadData wants a NUL-terminated image
    } catch (IOException e) {
      throw new IllegalStateException("cannot read kernels.ptx", e);
    }
  }

  // ---- parameter server and optimizers --------------------------------------------------------

  void sumAverage(CudaArray s, int count, int length, CudaArray o) {
    if (length == 0) {
      return;
    }
    int w = width(length);
    launch(sumAverage[w], length / w, 0, Pointer.to(s.ptr()), Pointer.to(new int[] {count}),
        Pointer.to(new long[] {length}), Pointer.to(o.ptr()));
  }

  void sgdMomentum(CudaArray p, CudaArray g, CudaArray buf, float lr, float momentum,
                   boolean firstStep) {
    launchSgd(sgd, p.length(), buf, lr, momentum, firstStep, Pointer.to(p.ptr()),
        Pointer.to(g.ptr()));
  }

  void averageAndSgd(CudaArray s, int count, CudaArray g, CudaArray p, CudaArray buf, float lr,
                     float momentum, boolean firstStep) {
    launchSgd(averageSgd, p.length(), buf, lr, momentum, firstStep, Pointer.to(s.ptr()),
        Pointer.to(new int[] {count}), Pointer.to(g.ptr()), Pointer.to(p.ptr()));
  }

  /**
   * An SGD kernel of the widest vector dividing {@code length} (nothing when it is 0): the
   * {@code head} arguments, then the ones both SGD kernels end with (momentum buffer or a null
   * pointer, length, -lr, momentum, mode).
   */
  private void launchSgd(CUfunction[] byWidth, int length, CudaArray buf, float lr,
                         float momentum, boolean firstStep, Pointer... head) {
    if (length == 0) {
      return;
    }
    int w = width(length);
    Pointer[] args = Arrays.copyOf(head, head.length + 5);
    args[head.length] = Pointer.to(buf == null ? new CUdeviceptr() : buf.ptr());
    args[head.length + 1] = Pointer.to(new long[] {length});
    args[head.length + 2] = Pointer.to(new float[] {-lr});
    args[head.length + 3] = Pointer.to(new float[] {momentum});
    args[head.length + 4] = Pointer.to(new int[] {sgdMode(buf, firstStep)});
    launch(byWidth[w], length / w, 0, args);
  }

  void adam(CudaArray p, CudaArray g, CudaArray dm, CudaArray dv, float beta1, float beta2,
            float eps, AdamScalars scalars) {
    int length = p.length();
    if (length == 0) {
      return;
    }
    float negStepSize = scalars.negStepSize();
    float bc2Sqrt = scalars.bc2Sqrt();
    float oneMinusB1 = scalars.oneMinusBeta1();
    float oneMinusB2 = scalars.oneMinusBeta2();
    int w = width(length);
    launch(adam[w], length / w, 0, Pointer.to(p.ptr()), Pointer.to(g.ptr()),
        Pointer.to(dm.ptr()), Pointer.to(dv.ptr()), Pointer.to(new long[] {length}),
        Pointer.to(new float[] {beta1}), Pointer.to(new float[] {oneMinusB1}),
        Pointer.to(new float[] {beta2}), Pointer.to(new float[] {oneMinusB2}),
        Pointer.to(new float[] {negStepSize}), Pointer.to(new float[] {bc2Sqrt}),
        Pointer.to(new float[] {eps}));
  }

  // ---- policy -----------------------------------------------------------------------------------

  /**
   * Queues the uniforms' check and the policy kernel (nothing for an empty batch); the kernel
   * writes nothing when a uniform is out of range (see {@link #firstBadUniform}).
   */
  void policyAct(CudaArray w, int in, int hidden, int out, int batch, CudaArray x,
                 CudaArray scale, CudaArray u, CudaArray probs) {
    long paramCount = w.length();
    if (batch == 0) {
      return;
    }
    CUdeviceptr actions = actionsScratch.atLeast(batch);
    CUdeviceptr guard = policyGuard.atLeast(1);
    cuMemsetD32(guard, GUARD_CLEAR, 1);
    launch(checkUniforms, batch, 0, Pointer.to(u.ptr()), Pointer.to(new int[] {batch}),
        Pointer.to(guard));
    int useShared = useShared(paramCount);
    Pointer args = Pointer.to(Pointer.to(w.ptr()), Pointer.to(new int[] {in}),
        Pointer.to(new int[] {hidden}), Pointer.to(new int[] {out}),
        Pointer.to(new int[] {batch}), Pointer.to(x.ptr()), Pointer.to(scale.ptr()),
        Pointer.to(u.ptr()), Pointer.to(probs.ptr()), Pointer.to(actions),
        Pointer.to(new int[] {useShared}), Pointer.to(guard));
    launchRows(policyAct, batch, paramCount, useShared, args);
  }

  /**
   * After a non-empty {@link #policyAct}: the first row whose uniform is outside [0, 1), or -1
   * when there is none (a 4-byte read-back, which waits for the check).
   */
  int firstBadUniform() {
    int[] bad = new int[1];
    cuMemcpyDtoH(Pointer.to(bad), policyGuard.ptr(), Sizeof.INT);
    return bad[0] != GUARD_CLEAR ? bad[0] : -1;
  }

  /** Uploads the observer ids and queues the keyed policy kernel (nothing for an empty batch). */
  void policyActKeyed(CudaArray w, int in, int hidden, int out, int batch, CudaArray x,
                      int[] observers, long seed, long step, float dropoutP, CudaArray probs) {
    long paramCount = w.length();
    float keep = KeyedDraws.keepThreshold(dropoutP);
    float keptValue = KeyedDraws.keptValue(dropoutP);
    if (batch == 0) {
      return;
    }
    CUdeviceptr actions = actionsScratch.atLeast(batch);
    CUdeviceptr ids = observersScratch.atLeast(batch);
    // ordered on the default stream after any kernel still reading the previous ids
    cuMemcpyHtoD(ids, Pointer.to(observers), (long) batch * Sizeof.INT);
    int useShared = useShared(paramCount);
    // key = (seed lo, seed hi), counter = (step lo, step hi, observer, block): KeyedDraws' layout
    Pointer args = Pointer.to(Pointer.to(w.ptr()), Pointer.to(new int[] {in}),
        Pointer.to(new int[] {hidden}), Pointer.to(new int[] {out}),
        Pointer.to(new int[] {batch}), Pointer.to(x.ptr()), Pointer.to(ids),
        Pointer.to(new int[] {(int) seed}), Pointer.to(new int[] {(int) (seed >>> 32)}),
        Pointer.to(new int[] {(int) step}), Pointer.to(new int[] {(int) (step >>> 32)}),
        Pointer.to(new float[] {keep}), Pointer.to(new float[] {keptValue}),
        Pointer.to(probs.ptr()), Pointer.to(actions), Pointer.to(new int[] {useShared}));
    launchRows(policyActKeyedKernel, batch, paramCount, useShared, args);
  }

  /** Copies the last policy round's {@code batch} actions to the host (waits for the kernel). */
  void readActions(int[] actionsOut, int batch) {
    cuMemcpyDtoH(Pointer.to(actionsOut), actionsScratch.ptr(), (long) batch * Sizeof.INT);
  }

  // ---- launches ---------------------------------------------------------------------------------

  /** A grid-stride launch over {@code items} work items (vectors) with BLOCK threads a block. */
  private void launch(CUfunction f, long items, int sharedBytes, Pointer... args) {
    // Enough blocks to fill every SM several times over; the grid-stride loop covers the rest,
    // which keeps each thread's loads independent and in flight.
    int blocks = (int) Math.max(1, Math.min((items + BLOCK - 1) / BLOCK, smCount * 8L));
    cuLaunchKernel(f, blocks, 1, 1, BLOCK, 1, 1, sharedBytes, null, Pointer.to(args), null);
  }

  /** 1 when a policy kernel is to stage its {@code paramCount} parameters in shared memory. */
  private static int useShared(long paramCount) {
    return paramCount * Sizeof.FLOAT <= SHARED_BYTES_LIMIT ? 1 : 0;
  }

  /**
   * A policy kernel: one warp per row over a grid of at most 16 blocks per SM (a grid-stride loop
   * covers the rest), with the parameters' bytes of dynamic shared memory when {@code useShared}.
   */
  private void launchRows(CUfunction f, int batch, long paramCount, int useShared, Pointer args) {
    int warpsPerBlock = BLOCK / 32;
    int blocks = (int) Math.min((batch + warpsPerBlock - 1L) / warpsPerBlock, smCount * 16L);
    int sharedBytes = useShared == 1 ? (int) (paramCount * Sizeof.FLOAT) : 0;
    cuLaunchKernel(f, blocks, 1, 1, BLOCK, 1, 1, sharedBytes, null, args, null);
  }

  /**
   * The widest vector (4, 2 or 1 floats) dividing {@code length}: rows of the stacked gradients
   * start at multiples of {@code length}, so only then is every row start aligned for it.
   */
  private static int width(int length) {
    return length % 4 == 0 ? 4 : (length % 2 == 0 ? 2 : 1);
  }

  private static int sgdMode(CudaArray buf, boolean firstStep) {
    return buf == null ? 0 : (firstStep ? 1 : 2);
  }

  /** Frees the scratch and unloads the module (with the backend's context current). */
  @Override
  public void close() {
    actionsScratch.close();
    policyGuard.close();
    observersScratch.close();
    cuModuleUnload(module);
  }
}
