package dev.batchrpc.compute.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import dev.batchrpc.compute.AbstractBackend;
import dev.batchrpc.compute.AdamScalars;
import dev.batchrpc.compute.Checks;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.random.KeyedDraws;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;

/**
 * The GPU {@link dev.batchrpc.compute.Backend}: device memory through the CUDA driver API, GEMM
 * through cuBLAS, and the round kernels as PTX ({@code kernels.ptx}, built from
 * {@code compute/src/main/cuda/kernels.cu}) loaded with {@code cuModuleLoadData}. The argument
 * checks are {@link AbstractBackend}'s and the kernel launches {@link CudaKernels}'; this class
 * holds the device, its memory and cuBLAS, and maps each call to its launch.
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
 *
 * <p>Length: over 350 lines because it maps the twelve {@code Backend} calls to the driver, cuBLAS
 * and {@link CudaKernels}, each with its device semantics stated; the checks
 * ({@link AbstractBackend}), the launches ({@link CudaKernels}), the scratch
 * ({@link DeviceScratch}) and the bench-only calls ({@link KernelBench}) are already out.
 */
public final class CudaBackend extends AbstractBackend<CudaArray> {

  /** Largest action count the fused policy kernel supports (POLICY_MAX_OUT in kernels.cu). */
  public static final int POLICY_MAX_OUT = 16;

  private final int ordinal;
  private final CUdevice device = new CUdevice();
  private final CUcontext context = new CUcontext();
  private final cublasHandle cublas = new cublasHandle();
  private final String deviceName;
  private final Set<CudaArray> live = Collections.newSetFromMap(new IdentityHashMap<>());
  private final CudaKernels kernels;
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
    int smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    try {
      kernels = new CudaKernels(smCount);
      JCublas2.cublasCreate(cublas);
    } catch (RuntimeException e) {
      cuDevicePrimaryCtxRelease(device);
      throw e;
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

  // ---- round kernels (launched by CudaKernels) ---------------------------------------------

  @Override
  protected void sumAverageK(CudaArray s, int count, int length, CudaArray o) {
    open();
    kernels.sumAverage(s, count, length, o);
  }

  @Override
  protected void sgdMomentumK(CudaArray p, CudaArray g, CudaArray buf, float lr, float momentum,
                              boolean firstStep) {
    open();
    kernels.sgdMomentum(p, g, buf, lr, momentum, firstStep);
  }

  @Override
  protected void averageAndSgdK(CudaArray s, int count, CudaArray g, CudaArray p, CudaArray buf,
                                float lr, float momentum, boolean firstStep) {
    open();
    kernels.averageAndSgd(s, count, g, p, buf, lr, momentum, firstStep);
  }

  @Override
  protected void adamK(CudaArray p, CudaArray g, CudaArray dm, CudaArray dv, float beta1,
                       float beta2, float eps, AdamScalars scalars) {
    open();
    kernels.adam(p, g, dm, dv, beta1, beta2, eps, scalars);
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
    open();
    kernels.policyAct(params, in, hidden, out, batch, states, dropoutScale, uniforms, probsOut);
    if (batch > 0) {
      int bad = kernels.firstBadUniform();
      if (bad >= 0) {
        float[] value = new float[1];
        copyOutK(uniforms, bad, value, 0, 1);
        throw Checks.uniformOutOfRange(bad, value[0]);
      }
      kernels.readActions(actionsOut, batch);
    }
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
    open();
    kernels.policyActKeyed(params, in, hidden, out, batch, states, observers, seed, step,
        dropoutP, probsOut);
    if (batch > 0) {
      kernels.readActions(actionsOut, batch);
    }
  }

  /** The bench-only calls: the agent's kernels without their read-backs. */
  public KernelBench kernelBench() {
    return new KernelBench() {
      @Override
      public void policyAct(DeviceArray params, int in, int hidden, int out, int batch,
                            DeviceArray states, DeviceArray dropoutScale, DeviceArray uniforms,
                            DeviceArray probsOut) {
        PolicyOperands<CudaArray> o = checkPolicyAct(params, in, hidden, out, batch, states,
            dropoutScale, uniforms, probsOut, batch);
        open();
        kernels.policyAct(o.params(), in, hidden, out, batch, o.states(), o.dropoutScale(),
            o.uniforms(), o.probsOut());
      }

      @Override
      public void policyActKeyed(DeviceArray params, int in, int hidden, int out, int batch,
                                 DeviceArray states, int[] observers, long seed, long step,
                                 float dropoutP, DeviceArray probsOut) {
        PolicyOperands<CudaArray> o = checkPolicyActKeyed(params, in, hidden, out, batch, states,
            observers, dropoutP, probsOut, batch);
        open();
        kernels.policyActKeyed(o.params(), in, hidden, out, batch, o.states(), observers, seed,
            step, dropoutP, o.probsOut());
      }
    };
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
    kernels.close();
    JCublas2.cublasDestroy(cublas);
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
