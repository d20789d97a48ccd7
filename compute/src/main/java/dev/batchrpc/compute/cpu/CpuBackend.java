package dev.batchrpc.compute.cpu;

import dev.batchrpc.compute.AbstractBackend;
import dev.batchrpc.compute.AdamScalars;
import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.Checks;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.random.KeyedDraws;

/**
 * The reference {@link Backend}: host memory ({@link CpuArray}), GEMM through OpenBLAS (netlib's
 * JNI) or, without it, {@link JavaGemm} (see {@link Blas}), element-wise kernels as plain loops that
 * the JIT vectorizes.
 *
 * <p>Rounding follows PyTorch's CPU kernels where they fix it: {@code add_(x, alpha)} is one fused
 * multiply-add ({@code vec::fmadd}), so the optimizer updates use {@link Math#fma}; everything else
 * rounds after each float32 operation, as Java does.
 *
 * <p>The argument checks are {@link AbstractBackend}'s and the element-wise kernels
 * {@link CpuKernels}'; this class holds the memory, the GEMM and the checks of its own calls.
 *
 * <p>Arrays: any {@link CpuArray} is accepted (all CPU arrays are host memory, so arrays of two
 * {@code CpuBackend} instances may mix); anything else, or a closed array, is refused. Buffers whose
 * size depends on a batch ({@code sgemm} operands, {@code policyAct} inputs and outputs, the stacked
 * gradients) may be longer than needed so that callers can reuse a buffer sized for the largest
 * batch; parameter-shaped arrays (optimizer state, gradients) must match exactly.
 *
 * <p>Thread confinement: one thread at a time per instance (the round's ordered worker); the
 * instance keeps a grow-only scratch buffer for {@link #policyAct}.
 */
public final class CpuBackend extends AbstractBackend<CpuArray> {

  private static final class Shared {
    static final CpuBackend INSTANCE = new CpuBackend();
  }

  private final CpuKernels kernels = new CpuKernels();

  /** A CPU backend; the BLAS is selected (and logged) once per process, on first use. */
  public CpuBackend() {
  }

  /** A process-wide instance, the owner of {@link CpuArray#wrap} arrays. Closing it is harmless. */
  public static CpuBackend shared() {
    return Shared.INSTANCE;
  }

  /**
   * The GEMM in use, e.g. {@code OpenBLAS} or
   * {@code Java GEMM (Vector API, 16 floats wide, FMA)} (see {@link Blas}).
   */
  public static String blasName() {
    return Blas.name();
  }

  @Override
  public String name() {
    return "cpu (" + Blas.name() + ")";
  }

  @Override
  public boolean isGpu() {
    return false;
  }

  /** Wraps {@code data} without copying. */
  public CpuArray wrap(float[] data) {
    return new CpuArray(this, data);
  }

  // ---- memory -------------------------------------------------------------------------------

  @Override
  protected CpuArray allocateK(int length) {
    return new CpuArray(this, new float[length]);
  }

  @Override
  protected void copyInK(float[] src, int srcOff, CpuArray dst, int dstOff, int len) {
    System.arraycopy(src, srcOff, dst.data(), dstOff, len);
  }

  @Override
  protected void copyOutK(CpuArray src, int srcOff, float[] dst, int dstOff, int len) {
    System.arraycopy(src.data(), srcOff, dst, dstOff, len);
  }

  /** Copies straight from the buffer into the array: no temporary {@code float[]}. */
  @Override
  protected void copyInK(java.nio.FloatBuffer src, CpuArray dst, int dstOff) {
    src.duplicate().get(dst.data(), dstOff, src.remaining());
  }

  /** Copies straight from the array into the buffer: no temporary {@code float[]}. */
  @Override
  protected void copyOutK(CpuArray src, int srcOff, java.nio.FloatBuffer dst) {
    dst.duplicate().put(src.data(), srcOff, dst.remaining());
  }

  @Override
  protected void fillK(CpuArray a, float value) {
    java.util.Arrays.fill(a.data(), value);
  }

  // ---- BLAS ---------------------------------------------------------------------------------

  @Override
  protected void sgemmK(boolean transA, boolean transB, int m, int n, int k, float alpha,
                        CpuArray a, CpuArray b, float beta, CpuArray c) {
    Blas.sgemmRowMajor(transA, transB, m, n, k, alpha, a.data(), 0, b.data(), 0, beta, c.data(),
        0);
  }

  // ---- round kernels --------------------------------------------------------------------------

  @Override
  protected void sumAverageK(CpuArray stacked, int count, int length, CpuArray out) {
    kernels.sumAverage(stacked.data(), count, length, out.data());
  }

  @Override
  protected void sgdMomentumK(CpuArray params, CpuArray grad, CpuArray buf, float lr,
                              float momentum, boolean firstStep) {
    kernels.sgdMomentum(params.data(), grad.data(), data(buf), lr, momentum, firstStep);
  }

  @Override
  protected void averageAndSgdK(CpuArray stacked, int count, CpuArray gradOut, CpuArray params,
                                CpuArray momentumBuf, float lr, float momentum, boolean firstStep) {
    kernels.averageAndSgd(stacked.data(), count, gradOut.data(), params.data(), data(momentumBuf),
        lr, momentum, firstStep);
  }

  /**
   * {@link #averageAndSgd} with the gradients read straight from their buffers (e.g. little-endian
   * views of the wire bytes) instead of from a staged {@code [count x length]} matrix: the CPU
   * parameter server's round without the staging copy.
   *
   * <p>Bit for bit the same arithmetic as staging the rows in this order and calling
   * {@link #averageAndSgd}: per element, {@code g = ((row0 + row1) + ...) + row_{n-1}}, then
   * {@code g / n}, then the SGD update, each rounded to float32 as there. Block by block (a block
   * of each row is copied into an L1-sized scratch, which for a little-endian view on a
   * little-endian machine is a plain memory copy), so every gradient byte is read once and the
   * parameters, momentum and average are touched once per round: about half the memory traffic
   * of stage-then-average ({@code n} reads instead of {@code n} reads + {@code n} writes +
   * {@code n} reads).
   *
   * @param rows the gradients in arrival order; each from its position, {@code remaining()} must
   *     equal the parameter count; positions are not changed
   */
  public void averageAndSgd(java.nio.FloatBuffer[] rows, DeviceArray gradOut, DeviceArray params,
                            DeviceArray momentumBuf, float lr, float momentum, boolean firstStep) {
    CpuArray gradArray = array(gradOut, "gradOut");
    CpuArray paramArray = array(params, "params");
    float[] buf = data(checkSgd(paramArray, gradArray, momentumBuf, lr, momentum));
    float[] g = gradArray.data();
    float[] p = paramArray.data();
    int length = p.length;
    if (rows == null || rows.length < 1) {
      throw new IllegalArgumentException("averageAndSgd needs at least one gradient row");
    }
    java.nio.FloatBuffer[] views = new java.nio.FloatBuffer[rows.length];
    for (int r = 0; r < rows.length; r++) {
      if (rows[r] == null || rows[r].remaining() != length) {
        throw new IllegalArgumentException("averageAndSgd row " + r + " has "
            + (rows[r] == null ? "no buffer" : rows[r].remaining() + " elements") + ", the model has "
            + length);
      }
      views[r] = rows[r].duplicate();
    }
    kernels.averageAndSgd(views, g, p, buf, lr, momentum, firstStep);
  }

  /**
   * One row of a running sum: {@code sum = row} for the first row of a round, {@code sum += row}
   * for the next ones, element by element as {@link #averageAndSgd(java.nio.FloatBuffer[],
   * DeviceArray, DeviceArray, DeviceArray, float, float, boolean)} adds them; with
   * {@link #averageAccumulatedAndSgd} after the last row, bit for bit that call's result. Lets a
   * parameter server add each gradient as it arrives, so the step after the last one reads only
   * that gradient and the sum.
   *
   * @param row the gradient, from its position; {@code remaining()} must equal the sum's length
   * @param first whether this is the round's first row (it replaces the sum)
   */
  public void accumulate(java.nio.FloatBuffer row, DeviceArray sum, boolean first) {
    float[] g = array(sum, "sum").data();
    if (row == null || row.remaining() != g.length) {
      throw new IllegalArgumentException("accumulate: row has " + (row == null ? "no buffer"
          : row.remaining() + " elements") + ", the sum has " + g.length);
    }
    kernels.accumulate(row, g, first);
  }

  /**
   * The end of a round summed with {@link #accumulate}: {@code sum /= count}, then the SGD step,
   * block by block, exactly as the last part of the buffer-reading {@code averageAndSgd}.
   *
   * @param sum the running sum of {@code count} rows; becomes their average
   */
  public void averageAccumulatedAndSgd(DeviceArray sum, int count, DeviceArray params, DeviceArray momentumBuf,
                                       float lr, float momentum, boolean firstStep) {
    CpuArray sumArray = array(sum, "sum");
    CpuArray paramArray = array(params, "params");
    float[] buf = data(checkSgd(paramArray, sumArray, momentumBuf, lr, momentum));
    float[] g = sumArray.data();
    float[] p = paramArray.data();
    if (count < 1) {
      throw new IllegalArgumentException("averageAccumulatedAndSgd needs a count >= 1, got " + count);
    }
    kernels.averageAccumulatedAndSgd(g, count, p, buf, lr, momentum, firstStep);
  }

  @Override
  protected void adamK(CpuArray params, CpuArray grad, CpuArray m, CpuArray v, float beta1,
                       float beta2, float eps, AdamScalars scalars) {
    kernels.adam(params.data(), grad.data(), m.data(), v.data(), beta1, beta2, eps, scalars);
  }

  /** The host-drawn reference for a policy round needs a mask that fits one Java array. */
  @Override
  protected void checkPolicyLimits(int in, int hidden, int out, int batch, boolean keyed) {
    if (keyed && (long) batch * hidden > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("policyAct dropout mask [" + batch + " x " + hidden
          + "] does not fit one array");
    }
  }

  @Override
  protected void policyActK(CpuArray params, int in, int hidden, int out, int batch,
                            CpuArray states, CpuArray dropoutScale, CpuArray uniforms,
                            CpuArray probsOut, int[] actionsOut) {
    float[] u = uniforms.data();
    for (int b = 0; b < batch; b++) {
      if (!(u[b] >= 0f && u[b] < 1f)) {
        throw Checks.uniformOutOfRange(b, u[b]);
      }
    }
    kernels.policyRows(params.data(), in, hidden, out, batch, states.data(), dropoutScale.data(), u,
        probsOut.data(), actionsOut);
  }

  /**
   * The reference for keyed draws: row b's dropout scales and uniform drawn on the host by
   * {@link KeyedDraws} from (seed, step, observers[b]), then the round as {@link #policyAct}.
   */
  @Override
  protected void policyActKeyedK(CpuArray params, int in, int hidden, int out, int batch,
                                 CpuArray states, int[] observers, long seed, long step,
                                 float dropoutP, CpuArray probsOut, int[] actionsOut) {
    float[] scale = new float[batch * hidden];
    float[] u = new float[batch];
    for (int b = 0; b < batch; b++) {
      KeyedDraws.dropoutScales(seed, step, observers[b], dropoutP, scale, b * hidden, hidden);
      u[b] = KeyedDraws.uniform(seed, step, observers[b]);
    }
    kernels.policyRows(params.data(), in, hidden, out, batch, states.data(), scale, u, probsOut.data(),
        actionsOut);
  }

  @Override
  public void close() {
    // host memory only: nothing to free (the GC owns the arrays)
  }

  // ---- arrays ---------------------------------------------------------------------------------

  @Override
  protected CpuArray owned(DeviceArray a) {
    return a instanceof CpuArray c ? c : null;
  }

  @Override
  protected String ownerRule() {
    return "not a CPU array";
  }

  @Override
  protected boolean isClosed(CpuArray a) {
    return a.isClosed();
  }

  /** CPU arrays share memory when they wrap the same {@code float[]} (see {@link #wrap}). */
  @Override
  protected boolean aliases(CpuArray x, CpuArray y) {
    return x.data() == y.data();
  }

  /** The data of a checked array, or null for none (a momentum buffer with momentum 0). */
  private static float[] data(CpuArray a) {
    return a == null ? null : a.data();
  }
}
