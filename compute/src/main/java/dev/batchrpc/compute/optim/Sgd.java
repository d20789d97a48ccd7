package dev.batchrpc.compute.optim;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;

/**
 * {@code torch.optim.SGD(params, lr, momentum)} (dampening 0, no Nesterov, no weight decay) over one
 * flat parameter array and its gradient on a {@link Backend}; the math is
 * {@link Backend#sgdMomentum} / {@link Backend#averageAndSgd}. Holds the momentum buffer (on the
 * backend) and whether the first step has been taken.
 *
 * <p>A step whose checks fail throws and changes nothing (no parameter, no buffer, no step count).
 * Not thread-safe: driven by the thread that drives the backend.
 */
public final class Sgd implements AutoCloseable {

  /** A checkpoint of the optimizer: the momentum buffer (null without momentum) and steps taken. */
  public record State(float[] momentumBuffer, long steps) {
  }

  private final Backend backend;
  private final DeviceArray params;
  private final DeviceArray grad;
  private final float lr;
  private final float momentum;
  private final DeviceArray buf;
  private long steps;

  /**
   * @param params the parameters, updated in place
   * @param grad the gradient read by {@link #step()}, written by {@link #stepAveraged}
   * @param lr the learning rate, finite and >= 0
   * @param momentum the momentum, finite and >= 0 (0: plain SGD, no buffer)
   */
  public Sgd(Backend backend, DeviceArray params, DeviceArray grad, float lr, float momentum) {
    if (params.length() != grad.length()) {
      throw new IllegalArgumentException("params length " + params.length()
          + " differs from grad length " + grad.length());
    }
    if (params.backend() != backend || grad.backend() != backend) {
      throw new IllegalArgumentException("params and grad must be arrays of " + backend.name());
    }
    if (!(lr >= 0f) || Float.isInfinite(lr)) {
      throw new IllegalArgumentException("SGD lr must be finite and >= 0, got " + lr);
    }
    if (!(momentum >= 0f) || Float.isInfinite(momentum)) {
      throw new IllegalArgumentException("SGD momentum must be finite and >= 0, got " + momentum);
    }
    this.backend = backend;
    this.params = params;
    this.grad = grad;
    this.lr = lr;
    this.momentum = momentum;
    this.buf = momentum == 0f ? null : backend.allocate(params.length());
  }

  /** The learning rate. */
  public float lr() {
    return lr;
  }

  /** The momentum. */
  public float momentum() {
    return momentum;
  }

  /** Steps taken so far. */
  public long steps() {
    return steps;
  }

  /** One step with the current {@code grad}. */
  public void step() {
    backend.sgdMomentum(params, grad, buf, lr, momentum, steps == 0);
    steps++;
  }

  /**
   * The parameter server's round: {@code grad} = the average of the first {@code count} rows of
   * {@code stacked} (summed in row order), then one step, in one pass.
   */
  public void stepAveraged(DeviceArray stacked, int count) {
    backend.averageAndSgd(stacked, count, grad, params, buf, lr, momentum, steps == 0);
    steps++;
  }

  /** A host copy of the optimizer state. */
  public State exportState() {
    return new State(buf == null ? null : backend.download(buf), steps);
  }

  /**
   * Restores a state from {@link #exportState()}.
   *
   * @throws IllegalArgumentException if the buffer's length (or presence) does not fit this
   *     optimizer; nothing changes then
   */
  public void restoreState(State state) {
    if (state.steps() < 0) {
      throw new IllegalArgumentException("negative step count " + state.steps());
    }
    float[] b = state.momentumBuffer();
    if (buf == null) {
      if (b != null) {
        throw new IllegalArgumentException("a momentum buffer of length " + b.length
            + " does not fit SGD without momentum");
      }
    } else {
      if (b == null && state.steps() > 0) {
        throw new IllegalArgumentException("SGD with momentum " + momentum + " after "
            + state.steps() + " steps needs a momentum buffer");
      }
      if (b != null && b.length != buf.length()) {
        throw new IllegalArgumentException("momentum buffer length " + b.length
            + " differs from params length " + buf.length());
      }
      if (b != null) {
        backend.copyIn(b, 0, buf, 0, b.length);
      } else {
        backend.fill(buf, 0f);
      }
    }
    steps = state.steps();
  }

  /** Frees the momentum buffer (not the parameters or the gradient). */
  @Override
  public void close() {
    if (buf != null) {
      buf.close();
    }
  }
}
