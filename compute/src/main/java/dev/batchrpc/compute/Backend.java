package dev.batchrpc.compute;

/**
 * The numerics a round needs, on one device. The CPU implementation is the reference; the CUDA one
 * is tested against it with a stated tolerance.
 *
 * <p>All matrices are dense, row-major float32. Every method checks its arguments (lengths,
 * ownership) before touching any data and throws {@link IllegalArgumentException} naming both
 * sides of a mismatch, so a failing call leaves every array unchanged. The checks live in one
 * place, {@link AbstractBackend}, which every backend extends.
 *
 * <p>Thread confinement: a backend and its arrays are driven by one thread at a time (the round's
 * ordered worker); implementations need not be thread-safe.
 */
public interface Backend extends AutoCloseable {

  /** Short, human-readable name, e.g. {@code cpu (OpenBLAS)} or {@code cuda:0 (NVIDIA H100)}. */
  String name();

  /** True when arrays live in GPU memory. */
  boolean isGpu();

  // ---- memory -------------------------------------------------------------------------------

  /** A new zero-filled array of {@code length} floats. */
  DeviceArray allocate(int length);

  /** A new array holding a copy of {@code src}. */
  default DeviceArray upload(float[] src) {
    DeviceArray a = allocate(src.length);
    copyIn(src, 0, a, 0, src.length);
    return a;
  }

  /** Copies {@code len} floats from host {@code src[srcOff..]} into {@code dst[dstOff..]}. */
  void copyIn(float[] src, int srcOff, DeviceArray dst, int dstOff, int len);

  /** Copies {@code len} floats from {@code src[srcOff..]} into host {@code dst[dstOff..]}. */
  void copyOut(DeviceArray src, int srcOff, float[] dst, int dstOff, int len);

  /**
   * Copies all {@code src.remaining()} floats of {@code src} (from its position; the buffer's
   * position is not changed) into {@code dst[dstOff..]}. Lets wire bytes (a little-endian view of
   * a protobuf payload) go to the device without an intermediate {@code float[]} where the
   * backend can.
   */
  void copyIn(java.nio.FloatBuffer src, DeviceArray dst, int dstOff);

  /**
   * Copies {@code dst.remaining()} floats from {@code src[srcOff..]} into {@code dst} (from its
   * position; the buffer's position is not changed), e.g. straight into the little-endian bytes
   * of a reply.
   */
  void copyOut(DeviceArray src, int srcOff, java.nio.FloatBuffer dst);

  /** A host copy of the whole array. */
  default float[] download(DeviceArray src) {
    float[] out = new float[src.length()];
    copyOut(src, 0, out, 0, out.length);
    return out;
  }

  /** Sets every element to {@code value}. */
  void fill(DeviceArray a, float value);

  // ---- BLAS ---------------------------------------------------------------------------------

  /**
   * {@code C = alpha * op(A) * op(B) + beta * C}, row-major; op(A) is m x k, op(B) is k x n, C is
   * m x n. {@code op(X)} is X or its transpose. A is stored m x k (or k x m when transposed), B is
   * stored k x n (or n x k when transposed).
   */
  void sgemm(boolean transA, boolean transB, int m, int n, int k,
             float alpha, DeviceArray a, DeviceArray b, float beta, DeviceArray c);

  // ---- round kernels --------------------------------------------------------------------------

  /**
   * The parameter server's gradient reduction: {@code out[j] = (g_0[j] + g_1[j] + ... +
   * g_{count-1}[j]) / count} where {@code g_i} is row i of {@code stacked} (a [rows x length]
   * matrix, rows >= count). The sum runs in row order, left to right, one float32 rounding per
   * addition, then one float32 division, as PyTorch's {@code grad += g} per arrival followed by
   * {@code grad /= count}.
   */
  void sumAverage(DeviceArray stacked, int count, int length, DeviceArray out);

  /**
   * One {@code torch.optim.SGD(lr, momentum)} step (dampening 0, no Nesterov, no weight decay):
   * on the first step {@code buf = grad}, afterwards {@code buf = momentum * buf + grad}; then
   * {@code params -= lr * buf}. With momentum 0 the buffer is not used and may be null.
   */
  void sgdMomentum(DeviceArray params, DeviceArray grad, DeviceArray momentumBuf,
                   float lr, float momentum, boolean firstStep);

  /**
   * The whole parameter-server round in one pass: average the first {@code count} rows of
   * {@code stacked} (exactly as {@link #sumAverage}) into {@code gradOut}, then take one
   * {@link #sgdMomentum} step with it. Equivalent to the two calls in sequence.
   */
  void averageAndSgd(DeviceArray stacked, int count, DeviceArray gradOut, DeviceArray params,
                     DeviceArray momentumBuf, float lr, float momentum, boolean firstStep);

  /**
   * One {@code torch.optim.Adam} step (no weight decay, no amsgrad), {@code step} counting from 1:
   * {@code m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   * params -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)}.
   */
  void adam(DeviceArray params, DeviceArray grad, DeviceArray m, DeviceArray v, long step,
            float lr, float beta1, float beta2, float eps);

  /**
   * The agent's fused round inference for the policy
   * {@code Linear(in,hidden) -> Dropout -> ReLU -> Linear(hidden,out) -> softmax -> sample}.
   *
   * <p>{@code params} is the flat parameter vector in PyTorch's {@code parameters()} order:
   * W1 [hidden x in], b1 [hidden], W2 [out x hidden], b2 [out]. {@code states} is [batch x in];
   * {@code dropoutScale} is [batch x hidden], each element 0 (dropped) or 1/(1-p) (kept), drawn
   * by the host generator; {@code uniforms} is [batch], each in [0, 1), drawn by the host generator.
   * Writes the softmax probabilities to {@code probsOut} [batch x out] and the sampled actions to
   * {@code actionsOut[0..batch)}: the smallest i with {@code u < p_0 + ... + p_i} (the last index
   * if rounding leaves u above the total).
   */
  void policyAct(DeviceArray params, int in, int hidden, int out, int batch,
                 DeviceArray states, DeviceArray dropoutScale, DeviceArray uniforms,
                 DeviceArray probsOut, int[] actionsOut);

  /**
   * {@link #policyAct} with keyed draws: the result (probabilities and actions) equals
   * {@code policyAct} called with row b's dropout scales from
   * {@link dev.batchrpc.compute.random.KeyedDraws#dropoutScales
   * KeyedDraws.dropoutScales(seed, step, observers[b], dropoutP, ..., hidden)} and its uniform
   * {@link dev.batchrpc.compute.random.KeyedDraws#uniform
   * KeyedDraws.uniform(seed, step, observers[b])}, for b in {@code [0, batch)}. So the draws of a
   * round are a pure function of (seed, step, observer): a GPU backend generates them inside the
   * kernel where they are used (uploading only the batch observer ids instead of a
   * [batch x hidden] mask), and the agent regenerates an episode's masks for the backward pass.
   *
   * <p>Only the first {@code batch} entries of {@code observers} are read; a repeated id gets the
   * same draws as its first occurrence. The argument checks and their messages are those of
   * {@code policyAct}, plus {@code observers} (at least {@code batch} ids) and {@code dropoutP}
   * (in [0, 1]); nothing is written when a check fails.
   *
   * <p>The CPU backend is the reference: it draws on the host and computes as {@code policyAct}.
   */
  void policyActKeyed(DeviceArray params, int in, int hidden, int out, int batch,
                      DeviceArray states, int[] observers, long seed, long step,
                      float dropoutP, DeviceArray probsOut, int[] actionsOut);

  /** Frees everything the backend holds (handles, modules). Arrays must not be used after. */
  @Override
  void close();
}
