package dev.batchrpc.ps;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;
import dev.batchrpc.compute.cpu.CpuBackend;
import java.nio.FloatBuffer;

/**
 * The parameter server's model state on one {@link Backend}: the flat parameters, the SGD
 * momentum buffer, the round's gradient slots and the model version.
 *
 * <p>A round is {@code stage(0, g0) ... stage(n-1, g_{n-1})} then {@link #step(int)}: the staged
 * gradients are summed in slot (arrival) order, divided by n, and one {@code torch.optim.SGD} step
 * with momentum is taken, exactly as the tutorial's {@code p.grad += g} per arrival,
 * {@code p.grad /= n}, {@code optimizer.step()}. The gradient buffer is overwritten by the next
 * round, which is what {@code zero_grad(set_to_none=False)} followed by accumulation amounts to.
 *
 * <p>Thread confinement: every method runs on the round's ordered worker thread (GPU work must
 * stay on one thread); the class does no locking.
 */
public final class ParameterStore implements AutoCloseable {

  /**
   * Everything a later step depends on, as host copies: restoring it into a store of the same
   * size, lr and momentum makes that store's next step bit-identical to this one's.
   *
   * @param version the model version (optimizer steps taken)
   * @param stepped whether a step was taken: the first step initialises the momentum buffer
   *     with the gradient ({@code torch.optim.SGD}'s first-step rule), later ones blend into it
   * @param parameters the flat parameters
   * @param momentumBuffer the SGD momentum buffer (zeros before the first step)
   */
  public record State(long version, boolean stepped, float[] parameters, float[] momentumBuffer) {

    /** Checks the invariants; the arrays are kept, not copied (they are large). */
    public State {
      if (version < 0) {
        throw new IllegalArgumentException("model version must be >= 0, got " + version);
      }
      if (parameters.length != momentumBuffer.length) {
        throw new IllegalArgumentException("parameters (" + parameters.length
            + ") and momentum buffer (" + momentumBuffer.length + ") differ in length");
      }
    }
  }

  private final Backend backend;
  private final int size;
  private final float lr;
  private final float momentum;
  private final DeviceArray params;
  private final DeviceArray momentumBuf;
  private final DeviceArray grad;
  private DeviceArray slots;
  private int capacity;
  private boolean firstStep = true;
  private long version;
  /** The round whose gradients {@link #grad} sums ({@link #accumulate}), -1 for none. */
  private long sumRound = -1;
  /** How many gradients of {@link #sumRound} the sum holds. */
  private int summed;

  /**
   * @param initial the initial parameters (copied)
   * @param capacity the number of gradient slots, i.e. the largest round expected; grows on demand
   */
  public ParameterStore(Backend backend, float[] initial, int capacity, float lr, float momentum) {
    if (initial.length == 0) {
      throw new IllegalArgumentException("the model has no parameters");
    }
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
    }
    if (!(lr > 0) || !Float.isFinite(lr)) {
      throw new IllegalArgumentException("learning rate must be a positive finite number, got " + lr);
    }
    if (!(momentum >= 0 && momentum < 1)) {
      throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
    }
    this.backend = backend;
    this.size = initial.length;
    this.lr = lr;
    this.momentum = momentum;
    this.params = backend.upload(initial);
    this.momentumBuf = backend.allocate(size);
    this.grad = backend.allocate(size);
    this.capacity = capacity;
    this.slots = backend.allocate(Math.multiplyExact(capacity, size));
  }

  /** The number of parameters. */
  public int size() {
    return size;
  }

  /** The model version: the number of optimizer steps taken since the initial model. */
  public long version() {
    return version;
  }

  /** The SGD learning rate. */
  public float lr() {
    return lr;
  }

  /** The SGD momentum. */
  public float momentum() {
    return momentum;
  }

  /** The backend holding the model. */
  public Backend backend() {
    return backend;
  }

  /**
   * Copies one participant's gradient into round slot {@code slot} (its arrival index).
   *
   * @throws IllegalArgumentException if the gradient's length is not {@link #size()}
   */
  public void stage(int slot, FloatBuffer gradient) {
    if (gradient.remaining() != size) {
      throw new IllegalArgumentException(
          "gradient has " + gradient.remaining() + " elements, the model has " + size);
    }
    if (slot < 0) {
      throw new IllegalArgumentException("slot must be >= 0, got " + slot);
    }
    ensureCapacity(slot + 1);
    backend.copyIn(gradient, slots, slot * size);
  }

  /**
   * Averages the first {@code count} staged gradients and takes one SGD step.
   *
   * @return the new model version
   */
  public long step(int count) {
    if (count < 1 || count > capacity) {
      throw new IllegalArgumentException("round size must be in [1, " + capacity + "], got " + count);
    }
    backend.averageAndSgd(slots, count, grad, params, momentumBuf, lr, momentum, firstStep);
    firstStep = false;
    return ++version;
  }

  /**
   * One whole round from the gradients' own buffers, in arrival order: the same result, bit for
   * bit, as {@code stage(i, rows[i])} for each i then {@code step(rows.length)}.
   *
   * <p>On the CPU the rows are read in place by one fused pass
   * ({@link CpuBackend#averageAndSgd(FloatBuffer[], DeviceArray, DeviceArray, DeviceArray, float,
   * float, boolean)}): no staging copy, about half the memory traffic. On a GPU the staging copy
   * is the upload, so the rows are staged as before.
   *
   * @return the new model version
   * @throws IllegalArgumentException if there is no row or a row's length is not {@link #size()}
   *     (nothing changes)
   */
  public long step(FloatBuffer[] rows) {
    if (rows.length < 1) {
      throw new IllegalArgumentException("a round needs at least one gradient");
    }
    for (int i = 0; i < rows.length; i++) {
      if (rows[i].remaining() != size) {
        throw new IllegalArgumentException(
            "gradient " + i + " has " + rows[i].remaining() + " elements, the model has " + size);
      }
    }
    if (backend instanceof CpuBackend cpu) {
      cpu.averageAndSgd(rows, grad, params, momentumBuf, lr, momentum, firstStep);
      firstStep = false;
      return ++version;
    }
    for (int i = 0; i < rows.length; i++) {
      stage(i, rows[i]);
    }
    return step(rows.length);
  }

  /**
   * Whether this store can sum a round's gradients as they arrive ({@link #accumulate}); on a GPU
   * the rows are staged and averaged by one kernel instead.
   */
  public boolean canAccumulate() {
    return backend instanceof CpuBackend;
  }

  /**
   * Adds the gradient of arrival {@code slot} of round {@code round} to that round's running sum:
   * slot 0 starts it, the next slot adds to it, anything else (a slot skipped, another round)
   * leaves the sum unusable for {@link #stepAccumulated}, which then says so.
   *
   * @throws IllegalStateException if the backend cannot accumulate ({@link #canAccumulate()})
   */
  public void accumulate(long round, int slot, FloatBuffer gradient) {
    if (!(backend instanceof CpuBackend cpu)) {
      throw new IllegalStateException("accumulate needs the CPU backend, this store is on " + backend.name());
    }
    if (gradient.remaining() != size) {
      throw new IllegalArgumentException(
          "gradient has " + gradient.remaining() + " elements, the model has " + size);
    }
    if (slot == 0) {
      sumRound = round;
      summed = 0;
    } else if (sumRound != round || summed != slot) {
      sumRound = -1; // out of order: this round's sum is not to be used
      return;
    }
    cpu.accumulate(gradient, grad, slot == 0);
    summed++;
  }

  /**
   * Whether {@link #stepAccumulated} can finish round {@code round} of {@code count} arrivals: its
   * sum holds exactly its first {@code count} gradients, in arrival order.
   */
  public boolean accumulated(long round, int count) {
    return sumRound == round && summed == count && count > 0;
  }

  /**
   * Finishes a round summed by {@link #accumulate}: divides by the count and takes the SGD step;
   * bit for bit {@link #step(FloatBuffer[])} of the same rows in the same order.
   *
   * @return the new model version
   * @throws IllegalStateException if the sum is not exactly that round's {@code count} gradients
   */
  public long stepAccumulated(long round, int count) {
    if (!accumulated(round, count)) {
      throw new IllegalStateException("round " + round + " of " + count + " was not summed in arrival order "
          + "(sum of round " + sumRound + " holds " + summed + ")");
    }
    ((CpuBackend) backend).averageAccumulatedAndSgd(grad, count, params, momentumBuf, lr, momentum, firstStep);
    firstStep = false;
    sumRound = -1;
    return ++version;
  }

  /** Writes the parameters into {@code dst} (its remaining space must be {@link #size()}). */
  public void readParameters(FloatBuffer dst) {
    if (dst.remaining() != size) {
      throw new IllegalArgumentException(
          "destination has room for " + dst.remaining() + " floats, the model has " + size);
    }
    backend.copyOut(params, 0, dst);
  }

  /** A host copy of the whole optimizer state (for checkpoints). Worker thread only, like every call. */
  public State export() {
    return new State(version, !firstStep, backend.download(params), backend.download(momentumBuf));
  }

  /**
   * Replaces the model and optimizer state with {@code state} (a restored checkpoint).
   *
   * @throws IllegalArgumentException if the state's length is not {@link #size()} (nothing changes)
   */
  public void restore(State state) {
    if (state.parameters().length != size) {
      throw new IllegalArgumentException("state has " + state.parameters().length
          + " parameters, the model has " + size);
    }
    backend.copyIn(state.parameters(), 0, params, 0, size);
    backend.copyIn(state.momentumBuffer(), 0, momentumBuf, 0, size);
    firstStep = !state.stepped();
    version = state.version();
  }

  /** A host copy of the parameters. */
  public float[] parameters() {
    return backend.download(params);
  }

  /** The last round's averaged gradient (host copy); for tests and diagnostics. */
  public float[] lastAverage() {
    return backend.download(grad);
  }

  private void ensureCapacity(int needed) {
    if (needed <= capacity) {
      return;
    }
    // Grow by allocating the larger slot matrix first, so a failed allocation leaves the store
    // as it was; rows already staged in this round are carried over. Growth is rare (a round
    // larger than any before), so the row-by-row copy through the host is acceptable.
    int grown = Math.max(needed, capacity * 2);
    DeviceArray bigger = backend.allocate(Math.multiplyExact(grown, size));
    float[] row = new float[size];
    for (int i = 0; i < capacity; i++) {
      backend.copyOut(slots, i * size, row, 0, size);
      backend.copyIn(row, 0, bigger, i * size, size);
    }
    slots.close();
    slots = bigger;
    capacity = grown;
  }

  @Override
  public void close() {
    params.close();
    momentumBuf.close();
    grad.close();
    slots.close();
  }
}
