package dev.batchrpc.compute;

import static dev.batchrpc.compute.Checks.checkAdamHyperParameters;
import static dev.batchrpc.compute.Checks.checkPolicyParams;
import static dev.batchrpc.compute.Checks.checkRange;
import static dev.batchrpc.compute.Checks.checkStacked;
import static dev.batchrpc.compute.Checks.requireAtLeast;
import static dev.batchrpc.compute.Checks.requireMatrix;
import static dev.batchrpc.compute.Checks.requireVector;
import static dev.batchrpc.compute.Checks.requireFiniteNonNegative;
import static dev.batchrpc.compute.Checks.requireSameLength;

import java.nio.FloatBuffer;

/**
 * The one place where a {@link Backend}'s arguments are checked, after netlib's {@code AbstractBLAS}:
 * each public method is final, checks its arguments and then calls a protected kernel of the same
 * name ending in {@code K}, which a backend implements with arguments known to be good: arrays of
 * this backend (typed {@code A}), open, long enough for the shapes given, not aliased where the
 * contract forbids it, hyper-parameters in range. So every backend refuses the same calls with the
 * same messages, and a refused call has written nothing.
 *
 * <p>What a backend adds: which arrays it can use ({@link #owned}), whether two of them share memory
 * ({@link #aliases}), its own limits on a policy's shape ({@link #checkPolicyLimits}), and the one
 * check that needs the data: a {@code policyAct} uniform outside [0, 1), which {@link #policyActK}
 * must refuse (with {@link Checks#uniformOutOfRange}) before it writes anything.
 *
 * <p>Thread confinement: as {@link Backend}, one thread at a time.
 *
 * <p>Length: over 350 lines on purpose. It holds the checks of all twelve {@code Backend} calls
 * and the kernel each declares; one place for them is the point (split, the messages and their
 * order would drift apart again). {@link Checks} holds the message-building pieces.
 *
 * @param <A> the backend's array type
 */
public abstract class AbstractBackend<A extends DeviceArray> implements Backend {

  /** A backend with no state of its own here: subclasses hold the memory and the kernels. */
  protected AbstractBackend() {
  }

  // ---- what a backend supplies ----------------------------------------------------------------

  /** {@code a} as this backend's array type, or null when this backend cannot use it. */
  protected abstract A owned(DeviceArray a);

  /** How {@link #owned} refuses an array, e.g. {@code not a CPU array}; ends a message. */
  protected abstract String ownerRule();

  /** True once {@code a}'s memory is gone (closed by its user or by its backend). */
  protected abstract boolean isClosed(A a);

  /** Whether two arrays share memory; by default when they are the same object. */
  protected boolean aliases(A x, A y) {
    return x == y;
  }

  /**
   * This backend's limits on a policy's shape (e.g. the largest action count a kernel supports),
   * checked after the dimensions are known positive (and, for {@code keyed}, after the observers
   * and the dropout probability) and before any array. Nothing by default.
   */
  protected void checkPolicyLimits(int in, int hidden, int out, int batch, boolean keyed) {
  }

  // ---- memory -------------------------------------------------------------------------------

  @Override
  public final A allocate(int length) {
    if (length < 0) {
      throw new IllegalArgumentException("cannot allocate a negative length: " + length);
    }
    return allocateK(length);
  }

  /** A new zero-filled array; {@code length >= 0}. */
  protected abstract A allocateK(int length);

  @Override
  public final void copyIn(float[] src, int srcOff, DeviceArray dst, int dstOff, int len) {
    A d = array(dst, "dst");
    checkRange("src", src.length, srcOff, len);
    checkRange("dst", d.length(), dstOff, len);
    copyInK(src, srcOff, d, dstOff, len);
  }

  /** The copy of {@link #copyIn(float[], int, DeviceArray, int, int)}; both ranges inside. */
  protected abstract void copyInK(float[] src, int srcOff, A dst, int dstOff, int len);

  @Override
  public final void copyOut(DeviceArray src, int srcOff, float[] dst, int dstOff, int len) {
    A s = array(src, "src");
    checkRange("src", s.length(), srcOff, len);
    checkRange("dst", dst.length, dstOff, len);
    copyOutK(s, srcOff, dst, dstOff, len);
  }

  /** The copy of {@link #copyOut(DeviceArray, int, float[], int, int)}; both ranges inside. */
  protected abstract void copyOutK(A src, int srcOff, float[] dst, int dstOff, int len);

  @Override
  public final void copyIn(FloatBuffer src, DeviceArray dst, int dstOff) {
    A d = array(dst, "dst");
    checkRange("dst", d.length(), dstOff, src.remaining());
    copyInK(src, d, dstOff);
  }

  /**
   * The copy of {@link #copyIn(FloatBuffer, DeviceArray, int)}; the range is inside. This default
   * goes through a temporary {@code float[]}; backends override it to avoid that copy.
   */
  protected void copyInK(FloatBuffer src, A dst, int dstOff) {
    float[] tmp = new float[src.remaining()];
    src.duplicate().get(tmp);
    copyInK(tmp, 0, dst, dstOff, tmp.length);
  }

  @Override
  public final void copyOut(DeviceArray src, int srcOff, FloatBuffer dst) {
    A s = array(src, "src");
    checkRange("src", s.length(), srcOff, dst.remaining());
    copyOutK(s, srcOff, dst);
  }

  /**
   * The copy of {@link #copyOut(DeviceArray, int, FloatBuffer)}; the range is inside. This default
   * goes through a temporary {@code float[]}; backends override it to avoid that copy.
   */
  protected void copyOutK(A src, int srcOff, FloatBuffer dst) {
    float[] tmp = new float[dst.remaining()];
    copyOutK(src, srcOff, tmp, 0, tmp.length);
    dst.duplicate().put(tmp);
  }

  @Override
  public final void fill(DeviceArray a, float value) {
    fillK(array(a, "a"), value);
  }

  /** Sets every element of {@code a} to {@code value}. */
  protected abstract void fillK(A a, float value);

  // ---- BLAS ---------------------------------------------------------------------------------

  @Override
  public final void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                          DeviceArray a, DeviceArray b, float beta, DeviceArray c) {
    if (m < 0 || n < 0 || k < 0) {
      throw new IllegalArgumentException("sgemm dimensions must be >= 0: m=" + m + ", n=" + n
          + ", k=" + k);
    }
    A da = array(a, "A");
    A db = array(b, "B");
    A dc = array(c, "C");
    requireMatrix("sgemm A", transA ? k : m, transA ? m : k, da.length());
    requireMatrix("sgemm B", transB ? n : k, transB ? k : n, db.length());
    requireMatrix("sgemm C", m, n, dc.length());
    if (aliases(dc, da) || aliases(dc, db)) {
      throw new IllegalArgumentException("sgemm output C must not alias A or B");
    }
    sgemmK(transA, transB, m, n, k, alpha, da, db, beta, dc);
  }

  /** The GEMM of {@link #sgemm}; the operands hold their shapes and C aliases neither. */
  protected abstract void sgemmK(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                 A a, A b, float beta, A c);

  // ---- round kernels --------------------------------------------------------------------------

  @Override
  public final void sumAverage(DeviceArray stacked, int count, int length, DeviceArray out) {
    A s = array(stacked, "stacked");
    A o = array(out, "out");
    checkStacked(s.length(), count, length);
    requireAtLeast("sumAverage out", o.length(), length);
    if (aliases(o, s)) {
      throw new IllegalArgumentException("sumAverage out must not alias stacked");
    }
    sumAverageK(s, count, length, o);
  }

  /** The reduction of {@link #sumAverage}; {@code count >= 1}, {@code length >= 0}, shapes hold. */
  protected abstract void sumAverageK(A stacked, int count, int length, A out);

  @Override
  public final void sgdMomentum(DeviceArray params, DeviceArray grad, DeviceArray momentumBuf,
                                float lr, float momentum, boolean firstStep) {
    A p = array(params, "params");
    A g = array(grad, "grad");
    A buf = checkSgd(p, g, momentumBuf, lr, momentum);
    sgdMomentumK(p, g, buf, lr, momentum, firstStep);
  }

  /**
   * The step of {@link #sgdMomentum}: as {@link #checkSgd} leaves its arguments ({@code buf} null
   * exactly when {@code momentum} is 0).
   */
  protected abstract void sgdMomentumK(A params, A grad, A buf, float lr, float momentum,
                                       boolean firstStep);

  @Override
  public final void averageAndSgd(DeviceArray stacked, int count, DeviceArray gradOut,
                                  DeviceArray params, DeviceArray momentumBuf, float lr,
                                  float momentum, boolean firstStep) {
    A s = array(stacked, "stacked");
    A g = array(gradOut, "gradOut");
    A p = array(params, "params");
    A buf = checkSgd(p, g, momentumBuf, lr, momentum);
    checkStacked(s.length(), count, p.length());
    if (aliases(s, g) || aliases(s, p) || (buf != null && aliases(s, buf))) {
      throw new IllegalArgumentException("averageAndSgd: stacked must not alias gradOut, params or "
          + "momentumBuf");
    }
    averageAndSgdK(s, count, g, p, buf, lr, momentum, firstStep);
  }

  /**
   * The fused round of {@link #averageAndSgd}: {@code stacked} holds {@code count} rows of
   * {@code params.length()}; the rest as {@link #sgdMomentumK}.
   */
  protected abstract void averageAndSgdK(A stacked, int count, A gradOut, A params, A buf,
                                         float lr, float momentum, boolean firstStep);

  @Override
  public final void adam(DeviceArray params, DeviceArray grad, DeviceArray m, DeviceArray v,
                         long step, float lr, float beta1, float beta2, float eps) {
    A p = array(params, "params");
    A g = array(grad, "grad");
    A dm = array(m, "m");
    A dv = array(v, "v");
    requireSameLength("adam params", p.length(), "grad", g.length());
    requireSameLength("adam params", p.length(), "m", dm.length());
    requireSameLength("adam params", p.length(), "v", dv.length());
    if (aliases(p, g) || aliases(p, dm) || aliases(p, dv) || aliases(g, dm) || aliases(g, dv)
        || aliases(dm, dv)) {
      throw new IllegalArgumentException("adam: params, grad, m and v must be distinct arrays");
    }
    checkAdamHyperParameters(step, lr, beta1, beta2, eps);
    adamK(p, g, dm, dv, beta1, beta2, eps, AdamScalars.of(lr, beta1, beta2, step));
  }

  /**
   * The step of {@link #adam}: four distinct arrays of one length, with the step's float32
   * scalars computed once for every backend (see {@link AdamScalars}).
   */
  protected abstract void adamK(A params, A grad, A m, A v, float beta1, float beta2, float eps,
                                AdamScalars scalars);

  // ---- policy -----------------------------------------------------------------------------------

  @Override
  public final void policyAct(DeviceArray params, int in, int hidden, int out, int batch,
                              DeviceArray states, DeviceArray dropoutScale, DeviceArray uniforms,
                              DeviceArray probsOut, int[] actionsOut) {
    PolicyOperands<A> o = checkPolicyAct(params, in, hidden, out, batch, states, dropoutScale,
        uniforms, probsOut, actionsOut.length);
    policyActK(o.params(), in, hidden, out, batch, o.states(), o.dropoutScale(), o.uniforms(),
        o.probsOut(), actionsOut);
  }

  /**
   * The round of {@link #policyAct} with its arguments checked, except the uniforms' values: a
   * uniform outside [0, 1) must be refused before anything is written, with
   * {@link Checks#uniformOutOfRange} naming the first such row.
   */
  protected abstract void policyActK(A params, int in, int hidden, int out, int batch, A states,
                                     A dropoutScale, A uniforms, A probsOut, int[] actionsOut);

  @Override
  public final void policyActKeyed(DeviceArray params, int in, int hidden, int out, int batch,
                                   DeviceArray states, int[] observers, long seed, long step,
                                   float dropoutP, DeviceArray probsOut, int[] actionsOut) {
    PolicyOperands<A> o = checkPolicyActKeyed(params, in, hidden, out, batch, states, observers,
        dropoutP, probsOut, actionsOut.length);
    policyActKeyedK(o.params(), in, hidden, out, batch, o.states(), observers, seed, step,
        dropoutP, o.probsOut(), actionsOut);
  }

  /** The keyed round of {@link #policyActKeyed} with every argument checked. */
  protected abstract void policyActKeyedK(A params, int in, int hidden, int out, int batch,
                                          A states, int[] observers, long seed, long step,
                                          float dropoutP, A probsOut, int[] actionsOut);

  /**
   * The arrays of a checked policy round; {@code dropoutScale} and {@code uniforms} are null for a
   * keyed round.
   *
   * @param <T> the backend's array type
   */
  protected record PolicyOperands<T>(T params, T states, T dropoutScale, T uniforms, T probsOut) {
  }

  /**
   * The checks of {@link #policyAct}, for a round whose actions go to a buffer of
   * {@code actionsCapacity} ints (a backend's own variants, e.g. one that leaves them on the
   * device, pass the batch).
   */
  protected final PolicyOperands<A> checkPolicyAct(DeviceArray params, int in, int hidden, int out,
                                                   int batch, DeviceArray states,
                                                   DeviceArray dropoutScale, DeviceArray uniforms,
                                                   DeviceArray probsOut, int actionsCapacity) {
    checkPolicyDimensions(in, hidden, out, batch);
    checkPolicyLimits(in, hidden, out, batch, false);
    A w = array(params, "params");
    A x = array(states, "states");
    A scale = array(dropoutScale, "dropoutScale");
    A u = array(uniforms, "uniforms");
    A probs = array(probsOut, "probsOut");
    checkPolicyParams(w.length(), in, hidden, out);
    requireMatrix("policyAct states", batch, in, x.length());
    requireMatrix("policyAct dropoutScale", batch, hidden, scale.length());
    requireVector("policyAct uniforms", batch, u.length());
    checkPolicyOutputs(out, batch, probs, actionsCapacity);
    if (aliases(probs, w) || aliases(probs, x) || aliases(probs, scale) || aliases(probs, u)) {
      throw new IllegalArgumentException("policyAct probsOut must not alias an input");
    }
    return new PolicyOperands<>(w, x, scale, u, probs);
  }

  /**
   * The checks of {@link #policyActKeyed}, in this order: dimensions, observers, dropout
   * probability, the backend's limits, then those of {@link #checkPolicyAct} that concern a keyed
   * round. {@code actionsCapacity} as there.
   */
  protected final PolicyOperands<A> checkPolicyActKeyed(DeviceArray params, int in, int hidden,
                                                        int out, int batch, DeviceArray states,
                                                        int[] observers, float dropoutP,
                                                        DeviceArray probsOut,
                                                        int actionsCapacity) {
    checkPolicyDimensions(in, hidden, out, batch);
    if (observers == null) {
      throw new IllegalArgumentException("policyAct observers is null");
    }
    if (observers.length < batch) {
      throw new IllegalArgumentException("policyAct observers has length " + observers.length
          + " but the batch is " + batch);
    }
    if (!(dropoutP >= 0f && dropoutP <= 1f)) {
      throw new IllegalArgumentException("policyAct dropoutP must be in [0, 1], got " + dropoutP);
    }
    checkPolicyLimits(in, hidden, out, batch, true);
    A w = array(params, "params");
    A x = array(states, "states");
    A probs = array(probsOut, "probsOut");
    checkPolicyParams(w.length(), in, hidden, out);
    requireMatrix("policyAct states", batch, in, x.length());
    checkPolicyOutputs(out, batch, probs, actionsCapacity);
    if (aliases(probs, w) || aliases(probs, x)) {
      throw new IllegalArgumentException("policyAct probsOut must not alias an input");
    }
    return new PolicyOperands<>(w, x, null, null, probs);
  }

  private static void checkPolicyDimensions(int in, int hidden, int out, int batch) {
    if (in <= 0 || hidden <= 0 || out <= 0 || batch < 0) {
      throw new IllegalArgumentException("policyAct needs in, hidden, out > 0 and batch >= 0: in="
          + in + ", hidden=" + hidden + ", out=" + out + ", batch=" + batch);
    }
  }

  private void checkPolicyOutputs(int out, int batch, A probs, int actionsCapacity) {
    requireMatrix("policyAct probsOut", batch, out, probs.length());
    if (actionsCapacity < batch) {
      throw new IllegalArgumentException("policyAct actionsOut has length " + actionsCapacity
          + " but the batch is " + batch);
    }
  }

  // ---- shared checks ------------------------------------------------------------------------

  /**
   * {@code a} as an open array of this backend.
   *
   * @throws IllegalArgumentException naming {@code what} when it is null, of another backend or
   *     closed
   */
  protected final A array(DeviceArray a, String what) {
    if (a == null) {
      throw new IllegalArgumentException(what + " is null");
    }
    A own = owned(a);
    if (own == null) {
      throw new IllegalArgumentException(what + " is a " + a.getClass().getSimpleName()
          + " owned by " + a.backend().name() + ", " + ownerRule());
    }
    if (isClosed(own)) {
      throw new IllegalArgumentException(what + " (" + own + ") is closed");
    }
    return own;
  }

  /**
   * The checks of an SGD step over {@code params} with gradient {@code grad}: same lengths,
   * {@code lr} and {@code momentum} finite and >= 0, distinct arrays, and with a non-zero momentum
   * a buffer of the same length aliasing neither.
   *
   * @return the momentum buffer, or null when {@code momentum} is 0 (it is not read then)
   */
  protected final A checkSgd(A params, A grad, DeviceArray momentumBuf, float lr, float momentum) {
    requireSameLength("sgd params", params.length(), "grad", grad.length());
    requireFiniteNonNegative("sgd lr", lr);
    requireFiniteNonNegative("sgd momentum", momentum);
    if (aliases(params, grad)) {
      throw new IllegalArgumentException("sgd params and grad must be distinct arrays");
    }
    if (momentum == 0f) {
      return null;
    }
    A buf = array(momentumBuf, "momentumBuf");
    requireSameLength("sgd params", params.length(), "momentumBuf", buf.length());
    if (aliases(buf, params) || aliases(buf, grad)) {
      throw new IllegalArgumentException("sgd momentumBuf must not alias params or grad");
    }
    return buf;
  }
}
