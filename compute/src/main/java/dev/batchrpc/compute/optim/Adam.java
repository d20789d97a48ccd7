package dev.batchrpc.compute.optim;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;

/**
 * {@code torch.optim.Adam(params, lr, betas, eps)} (no weight decay, no amsgrad) over one flat
 * parameter array and its gradient on a {@link Backend}; the math is {@link Backend#adam}. Holds the
 * moment estimates m and v (on the backend) and the step count (the next step is
 * {@code steps() + 1}, counting from 1).
 *
 * <p>A step whose checks fail throws and changes nothing. Not thread-safe.
 */
public final class Adam implements AutoCloseable {

  /** A checkpoint of the optimizer: first and second moments and the steps taken. */
  public record State(float[] m, float[] v, long steps) {
  }

  private final Backend backend;
  private final DeviceArray params;
  private final DeviceArray grad;
  private final float lr;
  private final float beta1;
  private final float beta2;
  private final float eps;
  private final DeviceArray m;
  private final DeviceArray v;
  private long steps;

  /** Adam with PyTorch's defaults for betas (0.9, 0.999) and eps (1e-8). */
  public Adam(Backend backend, DeviceArray params, DeviceArray grad, float lr) {
    this(backend, params, grad, lr, 0.9f, 0.999f, 1e-8f);
  }

  /**
   * @param lr the learning rate, finite and >= 0
   * @param beta1 first-moment decay in [0, 1)
   * @param beta2 second-moment decay in [0, 1)
   * @param eps added to the denominator, finite and >= 0
   */
  public Adam(Backend backend, DeviceArray params, DeviceArray grad, float lr, float beta1,
              float beta2, float eps) {
    if (params.length() != grad.length()) {
      throw new IllegalArgumentException("params length " + params.length()
          + " differs from grad length " + grad.length());
    }
    if (params.backend() != backend || grad.backend() != backend) {
      throw new IllegalArgumentException("params and grad must be arrays of " + backend.name());
    }
    if (!(lr >= 0f) || Float.isInfinite(lr) || !(eps >= 0f) || Float.isInfinite(eps)) {
      throw new IllegalArgumentException("Adam lr and eps must be finite and >= 0: lr=" + lr
          + ", eps=" + eps);
    }
    if (!(beta1 >= 0f && beta1 < 1f) || !(beta2 >= 0f && beta2 < 1f)) {
      throw new IllegalArgumentException("Adam betas must be in [0, 1): beta1=" + beta1
          + ", beta2=" + beta2);
    }
    this.backend = backend;
    this.params = params;
    this.grad = grad;
    this.lr = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.m = backend.allocate(params.length());
    this.v = backend.allocate(params.length());
  }

  /** The learning rate. */
  public float lr() {
    return lr;
  }

  /** Steps taken so far. */
  public long steps() {
    return steps;
  }

  /** One step with the current {@code grad}. */
  public void step() {
    backend.adam(params, grad, m, v, steps + 1, lr, beta1, beta2, eps);
    steps++;
  }

  /** A host copy of the optimizer state. */
  public State exportState() {
    return new State(backend.download(m), backend.download(v), steps);
  }

  /**
   * Restores a state from {@link #exportState()}.
   *
   * @throws IllegalArgumentException if a moment's length differs from the parameters' or the
   *     step count is negative; nothing changes then
   */
  public void restoreState(State state) {
    if (state.m() == null || state.v() == null || state.m().length != m.length()
        || state.v().length != v.length()) {
      throw new IllegalArgumentException("Adam state with m length "
          + (state.m() == null ? "null" : state.m().length) + " and v length "
          + (state.v() == null ? "null" : state.v().length) + " does not fit params length "
          + m.length());
    }
    if (state.steps() < 0) {
      throw new IllegalArgumentException("negative step count " + state.steps());
    }
    backend.copyIn(state.m(), 0, m, 0, m.length());
    backend.copyIn(state.v(), 0, v, 0, v.length());
    steps = state.steps();
  }

  /** Frees m and v (not the parameters or the gradient). */
  @Override
  public void close() {
    m.close();
    v.close();
  }
}
