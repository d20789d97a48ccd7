package dev.batchrpc.compute.nn;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.cpu.CpuBackend;
import dev.batchrpc.compute.random.KeyedDraws;
import dev.batchrpc.compute.random.Rng;

/**
 * The tutorial's CartPole policy: Linear(4,128) -> Dropout(0.6) -> ReLU -> Linear(128,2) -> softmax.
 *
 * <p>The parameters (898 floats, {@code parameters()} order: W1 [128x4], b1 [128], W2 [2x128],
 * b2 [2]) and the gradient live on a {@link Backend} as {@link #params()} and {@link #grad()}, ready
 * for an optimizer. {@link #act} runs a round's inference there ({@link Backend#policyAct});
 * {@link #reinforce} recomputes a whole episode on the host as one large batch with the dropout
 * scales used while acting (exact, not a re-sample) and writes the REINFORCE gradient to
 * {@link #grad()}. With a {@link CpuBackend} the device arrays ARE the host arrays (zero-copy);
 * with a GPU backend the 898 parameters are downloaded before, and the gradient uploaded after,
 * each {@code reinforce}.
 *
 * <p>Keyed draws: {@link #actKeyed} takes observer ids and a (seed, step) instead of the masks and
 * uniforms, and the backend draws them ({@link Backend#policyActKeyed}, on a GPU inside the
 * kernel); {@link #keyedDropoutScales} regenerates an episode's masks for {@code reinforce} from
 * the same keys, so nothing per step needs to be kept but the states, actions and step numbers.
 *
 * <p>Not thread-safe: driven by one thread (the agent's ordered worker).
 */
public final class PolicyNet implements AutoCloseable {

  /** Observation size. */
  public static final int IN = 4;
  /** Hidden units. */
  public static final int HIDDEN = 128;
  /** Actions. */
  public static final int OUT = 2;
  /** Dropout probability (active while acting: the tutorial never calls {@code eval()}). */
  public static final double DROPOUT = 0.6;
  /** Number of parameters, 898. */
  public static final int PARAM_COUNT = HIDDEN * IN + HIDDEN + OUT * HIDDEN + OUT;

  /** A round's result: probabilities [batch x 2] and the sampled actions. */
  public record Act(Tensor probs, int[] actions) {
  }

  private final Backend backend;
  private final Linear linear1 = new Linear(IN, HIDDEN);
  private final Dropout dropout = new Dropout(DROPOUT, null);
  private final ReLU relu = new ReLU();
  private final Linear linear2 = new Linear(HIDDEN, OUT);
  private final Sequential host = new Sequential(linear1, dropout, relu, linear2);
  private final boolean zeroCopy;
  private final DeviceArray params;
  private final DeviceArray grad;
  private DeviceArray statesBuf;
  private DeviceArray scaleBuf;
  private DeviceArray uniformsBuf;
  private DeviceArray probsBuf;

  /**
   * A policy on {@code backend} with a copy of {@code initialParams} (length {@link #PARAM_COUNT}).
   */
  public PolicyNet(Backend backend, float[] initialParams) {
    if (initialParams.length != PARAM_COUNT) {
      throw new IllegalArgumentException("policy parameters have length " + initialParams.length
          + " but the policy has " + PARAM_COUNT);
    }
    this.backend = backend;
    host.loadParams(initialParams);
    zeroCopy = backend instanceof CpuBackend;
    if (zeroCopy) {
      params = ((CpuBackend) backend).wrap(host.params());
      grad = ((CpuBackend) backend).wrap(host.grads());
    } else {
      params = backend.upload(initialParams);
      grad = backend.allocate(PARAM_COUNT);
    }
  }

  /** Fresh parameters with PyTorch's default Linear init, drawn from {@code rng}. */
  public static float[] initialParams(Rng rng) {
    Sequential s = new Sequential(new Linear(IN, HIDDEN), new Linear(HIDDEN, OUT));
    return s.init(rng).params();
  }

  /** The backend holding the parameters. */
  public Backend backend() {
    return backend;
  }

  /** The parameters on the backend (what the optimizer updates). */
  public DeviceArray params() {
    return params;
  }

  /** The gradient on the backend, written by {@link #reinforce}. */
  public DeviceArray grad() {
    return grad;
  }

  /** A host copy of the parameters. */
  public float[] paramsCopy() {
    return backend.download(params);
  }

  /**
   * One round of action selection: {@code states} [batch x 4], {@code dropoutScale}
   * [batch x 128] (each 0 or 2.5), {@code uniforms} [batch] in [0, 1).
   */
  public Act act(Tensor states, Tensor dropoutScale, float[] uniforms) {
    states.requireShape("states", -1, IN);
    int batch = states.dim(0);
    dropoutScale.requireShape("dropoutScale", batch, HIDDEN);
    if (uniforms.length != batch) {
      throw new IllegalArgumentException("uniforms has length " + uniforms.length
          + " but states has shape " + states.shapeString());
    }
    Tensor probs = Tensor.zeros(batch, OUT);
    int[] actions = new int[batch];
    if (zeroCopy) {
      CpuBackend cpu = (CpuBackend) backend;
      backend.policyAct(params, IN, HIDDEN, OUT, batch, cpu.wrap(states.data()),
          cpu.wrap(dropoutScale.data()), cpu.wrap(uniforms), cpu.wrap(probs.data()), actions);
      return new Act(probs, actions);
    }
    statesBuf = ensure(statesBuf, batch * IN);
    scaleBuf = ensure(scaleBuf, batch * HIDDEN);
    uniformsBuf = ensure(uniformsBuf, batch);
    probsBuf = ensure(probsBuf, batch * OUT);
    backend.copyIn(states.data(), 0, statesBuf, 0, batch * IN);
    backend.copyIn(dropoutScale.data(), 0, scaleBuf, 0, batch * HIDDEN);
    backend.copyIn(uniforms, 0, uniformsBuf, 0, batch);
    backend.policyAct(params, IN, HIDDEN, OUT, batch, statesBuf, scaleBuf, uniformsBuf, probsBuf,
        actions);
    backend.copyOut(probsBuf, 0, probs.data(), 0, batch * OUT);
    return new Act(probs, actions);
  }

  /**
   * One round of action selection with keyed draws: row b's dropout scales and uniform are
   * {@link KeyedDraws}' for {@code (seed, step, observers[b])} with p = {@link #DROPOUT}. The result
   * equals {@link #act} given those draws. {@code step} names the round: use a new one for every
   * round of a seed (e.g. a global round counter), and the same (seed, step, observers) again in
   * {@link #keyedDropoutScales} to recover the masks for {@link #reinforce}.
   *
   * @param states [batch x 4]
   * @param observers the batch's observer ids, one per row of {@code states}
   */
  public Act actKeyed(Tensor states, int[] observers, long seed, long step) {
    states.requireShape("states", -1, IN);
    int batch = states.dim(0);
    if (observers.length != batch) {
      throw new IllegalArgumentException("observers has length " + observers.length
          + " but states has shape " + states.shapeString());
    }
    Tensor probs = Tensor.zeros(batch, OUT);
    int[] actions = new int[batch];
    if (zeroCopy) {
      CpuBackend cpu = (CpuBackend) backend;
      backend.policyActKeyed(params, IN, HIDDEN, OUT, batch, cpu.wrap(states.data()), observers,
          seed, step, (float) DROPOUT, cpu.wrap(probs.data()), actions);
      return new Act(probs, actions);
    }
    statesBuf = ensure(statesBuf, batch * IN);
    probsBuf = ensure(probsBuf, batch * OUT);
    backend.copyIn(states.data(), 0, statesBuf, 0, batch * IN);
    backend.policyActKeyed(params, IN, HIDDEN, OUT, batch, statesBuf, observers, seed, step,
        (float) DROPOUT, probsBuf, actions);
    backend.copyOut(probsBuf, 0, probs.data(), 0, batch * OUT);
    return new Act(probs, actions);
  }

  /**
   * The dropout scales an episode acted with through {@link #actKeyed}, for {@link #reinforce}:
   * [steps.length * observers.length x 128], row {@code t * N + i} (step-major, as reinforce's
   * rows) holding {@link KeyedDraws#dropoutScales} of {@code (seed, steps[t], observers[i])} with
   * p = {@link #DROPOUT}, bit for bit the masks the rounds used.
   *
   * @param steps the step of each of the episode's rounds, in order
   * @param observers the observers of every round, in row order (N of them)
   */
  public static Tensor keyedDropoutScales(long seed, long[] steps, int[] observers) {
    long rows = (long) steps.length * observers.length;
    if (rows * HIDDEN > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(steps.length + " steps x " + observers.length
          + " observers x " + HIDDEN + " scales do not fit one tensor");
    }
    Tensor scales = Tensor.zeros((int) rows, HIDDEN);
    float[] d = scales.data();
    int row = 0;
    for (long step : steps) {
      for (int observer : observers) {
        KeyedDraws.dropoutScales(seed, step, observer, (float) DROPOUT, d, row * HIDDEN, HIDDEN);
        row++;
      }
    }
    return scales;
  }

  /** A buffer of at least {@code n} floats (grow-only; the old one is freed). */
  private DeviceArray ensure(DeviceArray buf, int n) {
    if (buf != null && buf.length() >= n) {
      return buf;
    }
    if (buf != null) {
      buf.close();
    }
    return backend.allocate(Math.max(n, 1));
  }

  /**
   * The REINFORCE loss of one episode and its gradient, written to {@link #grad()} (replacing it).
   *
   * <p>Rows are ordered step-major ({@code row = t * nObs + i}). With {@code L} the log-softmax of
   * the recomputed logits: {@code loss = sum_rows -L[row, actions[row]] * returns[row] / nObs}; its
   * gradient goes back through log-softmax, Linear(128,2), ReLU, the given dropout scales and
   * Linear(4,128).
   *
   * @param states [T*N x 4] the states acted on
   * @param dropoutScale [T*N x 128] the scales used while acting
   * @param actions [T*N] the actions taken, each 0 or 1
   * @param returns [T*N] the returns
   * @param nObs N, the number of observers (divides the number of rows)
   * @return the loss
   */
  public float reinforce(Tensor states, Tensor dropoutScale, int[] actions, float[] returns,
                         int nObs) {
    states.requireShape("states", -1, IN);
    int rows = states.dim(0);
    dropoutScale.requireShape("dropoutScale", rows, HIDDEN);
    if (actions.length != rows || returns.length != rows) {
      throw new IllegalArgumentException("actions (length " + actions.length + ") and returns "
          + "(length " + returns.length + ") must both have one entry per row of states "
          + states.shapeString());
    }
    if (nObs < 1 || rows % nObs != 0) {
      throw new IllegalArgumentException("nObs = " + nObs + " does not divide the " + rows
          + " rows of states " + states.shapeString());
    }
    for (int r = 0; r < rows; r++) {
      if (actions[r] < 0 || actions[r] >= OUT) {
        throw new IllegalArgumentException("actions[" + r + "] = " + actions[r] + " is not in [0, "
            + OUT + ")");
      }
    }
    if (!zeroCopy) {
      backend.copyOut(params, 0, host.params(), 0, PARAM_COUNT);
    }
    host.zeroGrad();
    Tensor h = relu.forward(dropout.forward(linear1.forward(states), dropoutScale));
    Tensor logp = Softmax.logSoftmax(linear2.forward(h));
    Tensor gradLogp = Tensor.zeros(rows, OUT);
    float[] lp = logp.data();
    float[] gl = gradLogp.data();
    double loss = 0.0;
    for (int r = 0; r < rows; r++) {
      float w = returns[r] / nObs;
      loss -= (double) lp[r * OUT + actions[r]] * w;
      gl[r * OUT + actions[r]] = -w;
    }
    Tensor gradLogits = Softmax.logSoftmaxBackward(logp, gradLogp);
    linear1.backward(dropout.backward(relu.backward(linear2.backward(gradLogits))));
    if (!zeroCopy) {
      backend.copyIn(host.grads(), 0, grad, 0, PARAM_COUNT);
    }
    return (float) loss;
  }

  /** Frees the backend arrays of this policy (not the backend). */
  @Override
  public void close() {
    for (DeviceArray a : new DeviceArray[] {params, grad, statesBuf, scaleBuf, uniformsBuf,
        probsBuf}) {
      if (a != null) {
        a.close();
      }
    }
  }
}
