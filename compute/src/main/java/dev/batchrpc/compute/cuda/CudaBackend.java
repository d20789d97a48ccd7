package dev.batchrpc.compute.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import dev.batchrpc.compute.AbstractBackend;
import dev.batchrpc.compute.AdamScalars;
import dev.batchrpc.compute.Checks;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.random.KeyedDraws;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;

/**
 * The GPU {@link dev.batchrpc.compute.Backend}: device memory through the CUDA driver API, GEMM
 * through cuBLAS, and the round kernels as PTX ({@code kernels.ptx}, built from
 * {@code compute/src/main/cuda/kernels.cu}) loaded with {@code cuModuleLoadData}. The argument
 * checks are {@link AbstractBackend}'s; this class holds the launches.
 *
 * <p>Numerics: {@code sumAverage}, {@code sgdMomentum}, {@code averageAndSgd} and {@code adam}
 * perform the same float32 operations in the same order as {@code CpuBackend} (separate roundings
 * where it rounds separately, one fused multiply-add where it fuses), so they match it bit for
 * bit. {@code policyAct} sums the hidden layer in another order and uses CUDA's {@code expf}
 * (within 2 ulp): probabilities agree within 1e-5 absolute; an action can differ only when the
 * uniform lies within that distance of a cumulative probability. {@code sgemm} is cuBLAS's FP32
 * GEMM (no TF32), within the usual {@code k * 2^-23 * |A||B|} of any other float32 GEMM.
 * {@code policyActKeyed} draws its masks and uniforms in the kernel (Philox, exactly as
 * {@link KeyedDraws}) and then computes as {@code policyAct}: identical to {@code policyAct} on this
 * backend with those draws, and so within {@code policyAct}'s tolerance of the CPU.
 *
 * <p>Thread confinement: one CUDA context (the device's primary context) and one cuBLAS handle,
 * driven by one thread at a time (the round's ordered worker). Because an ordered worker may hop
 * between pool threads, every call makes the context current when the calling thread changed.
 * Kernels and GEMMs are queued on the default stream and return before the GPU finishes; copies
 * to the host wait for them, and {@link #synchronize()} does explicitly.
 */
public final class CudaBackend extends AbstractBackend<CudaArray> {

  private static final int BLOCK = 256;
  /** Largest action count the fused policy kernel supports (POLICY_MAX_OUT in kernels.cu). */
  public static final int POLICY_MAX_OUT = 16;
  private static final int SHARED_BYTES_LIMIT = 48 * 1024;

  private final int ordinal;
  private final CUdevice device = new CUdevice();
  private final CUcontext context = new CUcontext();
  private final CUmodule module = new CUmodule();
  private final cublasHandle cublas = new cublasHandle();
  private final String deviceName;
  private final int smCount;
  private final Set<CudaArray> live = Collections.newSetFromMap(new IdentityHashMap<>());
  private final CUfunction[] sumAverage = new CUfunction[5];
  private final CUfunction[] sgd = new CUfunction[5];
  private final CUfunction[] averageSgd = new CUfunction[5];
  private final CUfunction[] adam = new CUfunction[5];
  private final CUfunction policyAct = new CUfunction();
  private final CUfunction checkUniforms = new CUfunction();
  private final CUfunction policyActKeyedKernel = new CUfunction();
  /** The guard word of policy_act (POLICY_GUARD_CLEAR in kernels.cu), allocated on first use. */
  private final DeviceScratch policyGuard = new DeviceScratch();
  private static final int GUARD_CLEAR = 0x7fffffff;
  /** The actions of the last policy round, read back by the caller's call. */
  private final DeviceScratch actionsScratch = new DeviceScratch();
  /** Device copy of a keyed round's observer ids. */
  private final DeviceScratch observersScratch = new DeviceScratch();
  private Thread boundThread;
  private boolean closed;

  /** A backend on device 0. */
  public CudaBackend() {
    this(0);
  }

  /**
   * A backend on the given device.
   *
   * @throws IllegalStateException if CUDA or cuBLAS is unusable (the message says why)
   * @throws IllegalArgumentException if the ordinal names no device
   */
  public CudaBackend(int ordinal) {
    CudaRuntime.Probe probe = CudaRuntime.require();
    if (ordinal < 0 || ordinal >= probe.deviceCount()) {
      throw new IllegalArgumentException("CUDA device ordinal " + ordinal + " out of range: "
          + probe.deviceCount() + " device(s)");
    }
    this.ordinal = ordinal;
    cuDeviceGet(device, ordinal);
    cuDevicePrimaryCtxRetain(context, device);
    bind();
    byte[] nameBytes = new byte[256];
    cuDeviceGetName(nameBytes, nameBytes.length, device);
    int n = 0;
    while (n < nameBytes.length && nameBytes[n] != 0) {
      n++;
    }
    deviceName = new String(nameBytes, 0, n, java.nio.charset.StandardCharsets.US_ASCII);
    smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    try {
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
      JCublas2.cublasCreate(cublas);
    } catch (RuntimeException e) {
      cuDevicePrimaryCtxRelease(device);
      throw e;
    }
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

  /** Makes this backend's context current on the calling thread if it is a new thread. */
  private void bind() {
    Thread t = Thread.currentThread();
    if (t != boundThread) {
      cuCtxSetCurrent(context);
      boundThread = t;
    }
  }

  private void open() {
    if (closed) {
      throw new IllegalStateException(name() + " is closed");
    }
    bind();
  }

  /** A device attribute of this backend's device (a {@link CUdevice_attribute} constant). */
  public int attribute(int attr) {
    int[] v = new int[1];
    cuDeviceGetAttribute(v, attr, device);
    return v[0];
  }

  /** The device's name as the driver reports it, e.g. {@code NVIDIA H100 80GB HBM3}. */
  public String deviceName() {
    return deviceName;
  }

  /** Waits for every queued kernel, GEMM and copy (for timing and error checks). */
  public void synchronize() {
    open();
    cuCtxSynchronize();
  }

  @Override
  public String name() {
    return "cuda:" + ordinal + " (" + deviceName + ")";
  }

  @Override
  public boolean isGpu() {
    return true;
  }

  // ---- memory -------------------------------------------------------------------------------

  @Override
  protected CudaArray allocateK(int length) {
    open();
    CUdeviceptr p = new CUdeviceptr();
    if (length > 0) {
      cuMemAlloc(p, (long) length * Sizeof.FLOAT);
      cuMemsetD32(p, 0, length);
    }
    CudaArray a = new CudaArray(this, p, length);
    live.add(a);
    return a;
  }

  /** Frees {@code a}'s memory; called by {@link CudaArray#close()}. */
  void free(CudaArray a) {
    if (live.remove(a) && !closed && a.length() > 0) {
      bind();
      cuMemFree(a.ptr());
    }
  }

  @Override
  protected void copyInK(float[] src, int srcOff, CudaArray dst, int dstOff, int len) {
    open();
    if (len > 0) {
      cuMemcpyHtoD(at(dst, dstOff), Pointer.to(src).withByteOffset((long) srcOff * Sizeof.FLOAT),
          (long) len * Sizeof.FLOAT);
    }
  }

  @Override
  protected void copyOutK(CudaArray src, int srcOff, float[] dst, int dstOff, int len) {
    open();
    if (len > 0) {
      cuMemcpyDtoH(Pointer.to(dst).withByteOffset((long) dstOff * Sizeof.FLOAT), at(src, srcOff),
          (long) len * Sizeof.FLOAT);
    }
  }

  /**
   * Direct buffers in native byte order (the little-endian view of a protobuf payload) and
   * array-backed buffers go straight to the device; anything else takes a temporary copy.
   */
  @Override
  protected void copyInK(FloatBuffer src, CudaArray dst, int dstOff) {
    Pointer host = hostPointer(src);
    if (host == null) {
      super.copyInK(src, dst, dstOff);
      return;
    }
    int len = src.remaining();
    open();
    if (len > 0) {
      cuMemcpyHtoD(at(dst, dstOff), host, (long) len * Sizeof.FLOAT);
    }
  }

  /** The device-to-host twin of {@link #copyInK(FloatBuffer, CudaArray, int)}. */
  @Override
  protected void copyOutK(CudaArray src, int srcOff, FloatBuffer dst) {
    Pointer host = dst.isReadOnly() ? null : hostPointer(dst);
    if (host == null) {
      super.copyOutK(src, srcOff, dst);
      return;
    }
    int len = dst.remaining();
    open();
    if (len > 0) {
      cuMemcpyDtoH(host, at(src, srcOff), (long) len * Sizeof.FLOAT);
    }
  }

  /**
   * A pointer to {@code b}'s element at its position, or null when the bytes cannot be handed to
   * the driver as they are (a direct buffer in the other byte order, or a view without array).
   */
  private static Pointer hostPointer(FloatBuffer b) {
    if (b.isDirect()) {
      // A slice starts at b's position with position 0, so the pointer is right whether or not
      // Pointer.toBuffer honours the position (JCuda 12.6 does: adding it again read two
      // elements too far, as the first GPU run of the contract test showed).
      return b.order() == ByteOrder.nativeOrder() ? Pointer.toBuffer(b.slice()) : null;
    }
    if (b.hasArray()) {
      return Pointer.to(b.array())
          .withByteOffset((long) (b.arrayOffset() + b.position()) * Sizeof.FLOAT);
    }
    return null;
  }

  @Override
  protected void fillK(CudaArray a, float value) {
    open();
    if (a.length() > 0) {
      cuMemsetD32(a.ptr(), Float.floatToRawIntBits(value), a.length());
    }
  }

  // ---- BLAS ---------------------------------------------------------------------------------

  /**
   * Row-major GEMM on column-major cuBLAS: a row-major r x c matrix is the column-major c x r
   * matrix of the same bytes, i.e. its transpose. So row-major {@code C = op(A) op(B)} is
   * column-major {@code C^T = op(B)^T op(A)^T}: call cuBLAS with the operands swapped, the same
   * transpose flags, and (m, n) swapped.
   */
  @Override
  protected void sgemmK(boolean transA, boolean transB, int m, int n, int k, float alpha,
                        CudaArray a, CudaArray b, float beta, CudaArray c) {
    open();
    if (m == 0 || n == 0) {
      return;
    }
    // leading dimensions of the stored (row-major) operands = their row lengths
    int lda = Math.max(1, transA ? m : k);
    int ldb = Math.max(1, transB ? k : n);
    int opA = transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
    int opB = transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
    JCublas2.cublasSgemm(cublas, opB, opA, n, m, k, Pointer.to(new float[] {alpha}),
        b.ptr(), ldb, a.ptr(), lda, Pointer.to(new float[] {beta}), c.ptr(), n);
  }

  // ---- round kernels --------------------------------------------------------------------------

  @Override
  protected void sumAverageK(CudaArray s, int count, int length, CudaArray o) {
    open();
    if (length == 0) {
      return;
    }
    int w = width(length);
    launch(sumAverage[w], length / w, 0, Pointer.to(s.ptr()), Pointer.to(new int[] {count}),
        Pointer.to(new long[] {length}), Pointer.to(o.ptr()));
  }

  @Override
  protected void sgdMomentumK(CudaArray p, CudaArray g, CudaArray buf, float lr, float momentum,
                              boolean firstStep) {
    open();
    int length = p.length();
    if (length == 0) {
      return;
    }
    int w = width(length);
    launch(sgd[w], length / w, 0, Pointer.to(p.ptr()), Pointer.to(g.ptr()),
        Pointer.to(buf == null ? new CUdeviceptr() : buf.ptr()), Pointer.to(new long[] {length}),
        Pointer.to(new float[] {-lr}), Pointer.to(new float[] {momentum}),
        Pointer.to(new int[] {sgdMode(buf, firstStep)}));
  }

  @Override
  protected void averageAndSgdK(CudaArray s, int count, CudaArray g, CudaArray p, CudaArray buf,
                                float lr, float momentum, boolean firstStep) {
    int length = p.length();
    open();
    if (length == 0) {
      return;
    }
    int w = width(length);
    launch(averageSgd[w], length / w, 0, Pointer.to(s.ptr()), Pointer.to(new int[] {count}),
        Pointer.to(g.ptr()), Pointer.to(p.ptr()),
        Pointer.to(buf == null ? new CUdeviceptr() : buf.ptr()), Pointer.to(new long[] {length}),
        Pointer.to(new float[] {-lr}), Pointer.to(new float[] {momentum}),
        Pointer.to(new int[] {sgdMode(buf, firstStep)}));
  }

  @Override
  protected void adamK(CudaArray p, CudaArray g, CudaArray dm, CudaArray dv, float beta1,
                       float beta2, float eps, AdamScalars scalars) {
    open();
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

  /** The fused policy kernels keep at most {@link #POLICY_MAX_OUT} logits in registers. */
  @Override
  protected void checkPolicyLimits(int in, int hidden, int out, int batch, boolean keyed) {
    if (out > POLICY_MAX_OUT) {
      throw new IllegalArgumentException("policyAct on CUDA supports at most " + POLICY_MAX_OUT
          + " actions, got out=" + out);
    }
  }

  /**
   * The fused agent round. A uniform outside [0, 1) is found by a validation kernel that runs
   * first; the policy kernel then writes nothing, and this call throws
   * {@link IllegalArgumentException} naming the row and value (one 4-byte read-back per round).
   */
  @Override
  protected void policyActK(CudaArray params, int in, int hidden, int out, int batch,
                            CudaArray states, CudaArray dropoutScale, CudaArray uniforms,
                            CudaArray probsOut, int[] actionsOut) {
    launchPolicyAct(params, in, hidden, out, batch, states, dropoutScale, uniforms, probsOut);
    if (batch > 0) {
      int[] bad = new int[1];
      cuMemcpyDtoH(Pointer.to(bad), policyGuard.ptr(), Sizeof.INT);
      if (bad[0] != GUARD_CLEAR) {
        float[] value = new float[1];
        copyOutK(uniforms, bad[0], value, 0, 1);
        throw Checks.uniformOutOfRange(bad[0], value[0]);
      }
      cuMemcpyDtoH(Pointer.to(actionsOut), actionsScratch.ptr(), (long) batch * Sizeof.INT);
    }
  }

  /**
   * {@link #policyAct} without reading anything back: the actions stay in a device buffer until
   * the next call, and a uniform outside [0, 1) leaves the outputs unwritten without an
   * exception. For benchmarks of the kernels alone; the probabilities are written as usual.
   */
  public void policyActOnDevice(DeviceArray params, int in, int hidden, int out, int batch,
                                DeviceArray states, DeviceArray dropoutScale,
                                DeviceArray uniforms, DeviceArray probsOut) {
    PolicyOperands<CudaArray> o = checkPolicyAct(params, in, hidden, out, batch, states,
        dropoutScale, uniforms, probsOut, batch);
    launchPolicyAct(o.params(), in, hidden, out, batch, o.states(), o.dropoutScale(),
        o.uniforms(), o.probsOut());
  }

  /** Queues the uniforms' check and the policy kernel for checked arguments. */
  private void launchPolicyAct(CudaArray w, int in, int hidden, int out, int batch, CudaArray x,
                               CudaArray scale, CudaArray u, CudaArray probs) {
    long paramCount = w.length();
    open();
    if (batch == 0) {
      return;
    }
    CUdeviceptr actions = actionsScratch.atLeast(batch);
    CUdeviceptr guard = policyGuard.atLeast(1);
    cuMemsetD32(guard, GUARD_CLEAR, 1);
    launch(checkUniforms, batch, 0, Pointer.to(u.ptr()), Pointer.to(new int[] {batch}),
        Pointer.to(guard));
    long sharedBytes = paramCount * Sizeof.FLOAT;
    int useShared = sharedBytes <= SHARED_BYTES_LIMIT ? 1 : 0;
    int warpsPerBlock = BLOCK / 32;
    int blocks = (int) Math.min((batch + warpsPerBlock - 1L) / warpsPerBlock, smCount * 16L);
    Pointer args = Pointer.to(Pointer.to(w.ptr()), Pointer.to(new int[] {in}),
        Pointer.to(new int[] {hidden}), Pointer.to(new int[] {out}),
        Pointer.to(new int[] {batch}), Pointer.to(x.ptr()), Pointer.to(scale.ptr()),
        Pointer.to(u.ptr()), Pointer.to(probs.ptr()), Pointer.to(actions),
        Pointer.to(new int[] {useShared}), Pointer.to(guard));
    cuLaunchKernel(policyAct, blocks, 1, 1, BLOCK, 1, 1, useShared == 1 ? (int) sharedBytes : 0,
        null, args, null);
  }

  /**
   * The fused agent round with the draws made inside the kernel ({@code policy_act_keyed}): only
   * the {@code batch} observer ids go up (4 bytes a row, against 512 for a 128-unit mask and 4 for
   * a uniform), and only the actions come back. The masks and uniforms are
   * {@link KeyedDraws}' bit for bit, and the arithmetic after them is {@code policyAct}'s, so the
   * result is identical to {@code policyAct} on this backend with those draws. A keyed uniform is
   * in [0, 1) by construction, so there is no validation pass and no guard read-back.
   */
  @Override
  protected void policyActKeyedK(CudaArray params, int in, int hidden, int out, int batch,
                                 CudaArray states, int[] observers, long seed, long step,
                                 float dropoutP, CudaArray probsOut, int[] actionsOut) {
    launchPolicyActKeyed(params, in, hidden, out, batch, states, observers, seed, step, dropoutP,
        probsOut);
    if (batch > 0) {
      cuMemcpyDtoH(Pointer.to(actionsOut), actionsScratch.ptr(), (long) batch * Sizeof.INT);
    }
  }

  /**
   * {@link #policyActKeyed} without reading the actions back (they stay in a device buffer until
   * the next call): uploads the observer ids and queues the kernel. For benchmarks; the
   * probabilities are written as usual.
   */
  public void policyActKeyedOnDevice(DeviceArray params, int in, int hidden, int out, int batch,
                                     DeviceArray states, int[] observers, long seed, long step,
                                     float dropoutP, DeviceArray probsOut) {
    PolicyOperands<CudaArray> o = checkPolicyActKeyed(params, in, hidden, out, batch, states,
        observers, dropoutP, probsOut, batch);
    launchPolicyActKeyed(o.params(), in, hidden, out, batch, o.states(), observers, seed, step,
        dropoutP, o.probsOut());
  }

  /** Uploads the observer ids and queues the keyed policy kernel for checked arguments. */
  private void launchPolicyActKeyed(CudaArray w, int in, int hidden, int out, int batch,
                                    CudaArray x, int[] observers, long seed, long step,
                                    float dropoutP, CudaArray probs) {
    long paramCount = w.length();
    float keep = KeyedDraws.keepThreshold(dropoutP);
    float keptValue = KeyedDraws.keptValue(dropoutP);
    open();
    if (batch == 0) {
      return;
    }
    CUdeviceptr actions = actionsScratch.atLeast(batch);
    CUdeviceptr ids = observersScratch.atLeast(batch);
    // ordered on the default stream after any kernel still reading the previous ids
    cuMemcpyHtoD(ids, Pointer.to(observers), (long) batch * Sizeof.INT);
    long sharedBytes = paramCount * Sizeof.FLOAT;
    int useShared = sharedBytes <= SHARED_BYTES_LIMIT ? 1 : 0;
    int warpsPerBlock = BLOCK / 32;
    int blocks = (int) Math.min((batch + warpsPerBlock - 1L) / warpsPerBlock, smCount * 16L);
    // key = (seed lo, seed hi), counter = (step lo, step hi, observer, block): KeyedDraws' layout
    Pointer args = Pointer.to(Pointer.to(w.ptr()), Pointer.to(new int[] {in}),
        Pointer.to(new int[] {hidden}), Pointer.to(new int[] {out}),
        Pointer.to(new int[] {batch}), Pointer.to(x.ptr()), Pointer.to(ids),
        Pointer.to(new int[] {(int) seed}), Pointer.to(new int[] {(int) (seed >>> 32)}),
        Pointer.to(new int[] {(int) step}), Pointer.to(new int[] {(int) (step >>> 32)}),
        Pointer.to(new float[] {keep}), Pointer.to(new float[] {keptValue}),
        Pointer.to(probs.ptr()), Pointer.to(actions), Pointer.to(new int[] {useShared}));
    cuLaunchKernel(policyActKeyedKernel, blocks, 1, 1, BLOCK, 1, 1,
        useShared == 1 ? (int) sharedBytes : 0, null, args, null);
  }

  /** A grid-stride launch over {@code items} work items (vectors) with BLOCK threads a block. */
  private void launch(CUfunction f, long items, int sharedBytes, Pointer... args) {
    // Enough blocks to fill every SM several times over; the grid-stride loop covers the rest,
    // which keeps each thread's loads independent and in flight.
    int blocks = (int) Math.max(1, Math.min((items + BLOCK - 1) / BLOCK, smCount * 8L));
    cuLaunchKernel(f, blocks, 1, 1, BLOCK, 1, 1, sharedBytes, null, Pointer.to(args), null);
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

  @Override
  public void close() {
    if (closed) {
      return;
    }
    bind();
    for (CudaArray a : live) {
      if (a.length() > 0) {
        cuMemFree(a.ptr());
      }
      a.invalidate();
    }
    live.clear();
    actionsScratch.close();
    policyGuard.close();
    observersScratch.close();
    JCublas2.cublasDestroy(cublas);
    cuModuleUnload(module);
    closed = true;
    cuDevicePrimaryCtxRelease(device);
  }

  // ---- arrays ---------------------------------------------------------------------------------

  private static CUdeviceptr at(CudaArray a, int offset) {
    return a.ptr().withByteOffset((long) offset * Sizeof.FLOAT);
  }

  @Override
  protected CudaArray owned(DeviceArray a) {
    return a instanceof CudaArray c && c.backend() == this ? c : null;
  }

  @Override
  protected String ownerRule() {
    return "not by " + name();
  }

  @Override
  protected boolean isClosed(CudaArray a) {
    return a.isClosed();
  }
}
