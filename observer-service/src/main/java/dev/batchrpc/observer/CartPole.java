package dev.batchrpc.observer;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * CartPole-v1 (Barto, Sutton &amp; Anderson 1983, as packaged in Gym): a pole hinged on a cart that
 * moves along a frictionless track; the agent pushes the cart left or right each step.
 *
 * <p>The dynamics are Gym's, term for term and in the same evaluation order, so from the same
 * start state and actions the double-precision state follows Gym's to the last bit (up to the
 * platform's {@code sin}/{@code cos}). The state {@code (x, x_dot, theta, theta_dot)} is kept in
 * double precision; {@link #observation()} hands out its float32 cast, as Gym does.
 *
 * <p>Random starts: {@link #reset()} draws each state variable uniformly from (-0.05, 0.05) with
 * the environment's own {@link SplittableRandom}, seeded in the constructor. This is deterministic
 * per seed but does <em>not</em> reproduce Gym's numpy {@code PCG64} draws for the same seed (a
 * different generator); to replay a Gym trajectory exactly, start it with {@link #reset(double[])}.
 *
 * <p>Episode rules: every step gives reward 1.0, including the one that terminates. The episode
 * terminates when |x| &gt; 2.4 or |theta| &gt; 12 degrees; a step after termination is refused
 * until the next reset. Truncation (v1: after 500 steps since the reset) is reported separately
 * in {@link Step#truncated()} and is not a termination: as with Gym's {@code TimeLimit}, further
 * steps are allowed and keep reporting it.
 *
 * <p>Not thread-safe: one environment belongs to one observer, driven by one thread (or one
 * event loop) at a time.
 */
public final class CartPole {

  /** Gravitational acceleration, m/s^2. */
  public static final double GRAVITY = 9.8;
  /** Cart mass, kg. */
  public static final double MASS_CART = 1.0;
  /** Pole mass, kg. */
  public static final double MASS_POLE = 0.1;
  /** Cart plus pole. */
  public static final double TOTAL_MASS = MASS_POLE + MASS_CART;
  /** Half the pole's length, m (Gym calls it {@code length}). */
  public static final double LENGTH = 0.5;
  /** Pole mass times half-length. */
  public static final double POLE_MASS_LENGTH = MASS_POLE * LENGTH;
  /** Magnitude of the push, N: action 1 pushes right (+), action 0 left (-). */
  public static final double FORCE_MAG = 10.0;
  /** Seconds per step (explicit Euler). */
  public static final double TAU = 0.02;
  /** Termination angle: 12 degrees, in radians (written as Gym writes it, for the same bits). */
  public static final double THETA_THRESHOLD_RADIANS = 12 * 2 * Math.PI / 360;
  /** Termination position, m. */
  public static final double X_THRESHOLD = 2.4;
  /** CartPole-v1's time limit in steps (v0: 200). */
  public static final int MAX_EPISODE_STEPS_V1 = 500;
  /** Reset draws each state variable from (-RESET_BOUND, RESET_BOUND). */
  public static final double RESET_BOUND = 0.05;

  /**
   * The outcome of one step.
   *
   * @param observation the new state cast to float32 (a fresh array owned by the caller)
   * @param reward always 1.0, the terminating step included
   * @param terminated the pole fell or the cart left the track; reset before stepping again
   * @param truncated the step count since the last reset reached the time limit
   */
  public record Step(float[] observation, double reward, boolean terminated, boolean truncated) {

    @Override
    public String toString() {
      return "Step[observation=" + Arrays.toString(observation) + ", reward=" + reward
          + ", terminated=" + terminated + ", truncated=" + truncated + "]";
    }
  }

  private final SplittableRandom random;
  private final int maxEpisodeSteps;

  // The state; meaningful only once `started`.
  private double x;
  private double xDot;
  private double theta;
  private double thetaDot;

  private boolean started;
  private boolean terminated;
  private int elapsedSteps;

  /** A CartPole-v1 (500-step limit) whose random resets come from {@code seed}. */
  public CartPole(long seed) {
    this(seed, MAX_EPISODE_STEPS_V1);
  }

  /**
   * A CartPole with the given time limit (500 for v1, 200 for v0).
   *
   * @throws IllegalArgumentException when {@code maxEpisodeSteps} is not positive
   */
  public CartPole(long seed, int maxEpisodeSteps) {
    if (maxEpisodeSteps <= 0) {
      throw new IllegalArgumentException("maxEpisodeSteps must be positive, got " + maxEpisodeSteps);
    }
    this.random = new SplittableRandom(seed);
    this.maxEpisodeSteps = maxEpisodeSteps;
  }

  /**
   * Starts a new episode from a random state, each variable uniform in (-0.05, 0.05).
   *
   * @return the first observation (float32 cast of the state)
   */
  public float[] reset() {
    double[] s = new double[4];
    for (int i = 0; i < 4; i++) {
      double v;
      // nextDouble(origin, bound) is in [origin, bound); reject the origin itself (probability
      // 2^-53 per draw) so the start is strictly inside the open interval.
      do {
        v = random.nextDouble(-RESET_BOUND, RESET_BOUND);
      } while (v <= -RESET_BOUND);
      s[i] = v;
    }
    return start(s);
  }

  /**
   * Starts a new episode from the given state {@code (x, x_dot, theta, theta_dot)}, e.g. to replay a
   * reference trajectory.
   *
   * @return the first observation (float32 cast of the state)
   * @throws IllegalArgumentException when {@code state} is not 4 finite numbers (nothing changes)
   */
  public float[] reset(double[] state) {
    if (state == null || state.length != 4) {
      throw new IllegalArgumentException("CartPole state must have 4 values (x, x_dot, theta, "
          + "theta_dot), got " + (state == null ? "null" : state.length + ": " + Arrays.toString(state)));
    }
    for (double v : state) {
      if (!Double.isFinite(v)) {
        throw new IllegalArgumentException("CartPole state must be finite, got " + Arrays.toString(state));
      }
    }
    return start(state);
  }

  private float[] start(double[] s) {
    x = s[0];
    xDot = s[1];
    theta = s[2];
    thetaDot = s[3];
    started = true;
    terminated = false;
    elapsedSteps = 0;
    return observation();
  }

  /**
   * Advances one step of {@link #TAU} seconds pushing the cart right ({@code 1}) or left ({@code 0}).
   *
   * @throws IllegalArgumentException when {@code action} is not 0 or 1 (the state is unchanged)
   * @throws IllegalStateException before the first reset or after termination, until the next reset
   *     (the state is unchanged)
   */
  public Step step(int action) {
    if (action != 0 && action != 1) {
      throw new IllegalArgumentException(
          "CartPole action must be 0 (push left) or 1 (push right), got " + action);
    }
    if (!started) {
      throw new IllegalStateException("CartPole has not been reset yet: call reset() before step()");
    }
    if (terminated) {
      throw new IllegalStateException("CartPole episode terminated after " + elapsedSteps
          + " steps (x=" + x + ", theta=" + theta + "): call reset() before stepping again");
    }
    // Gym's equations, in Gym's evaluation order (double arithmetic is not associative):
    //   temp      = (F + ml * theta_dot^2 * sin) / M
    //   theta_acc = (g sin - cos temp) / (l (4/3 - m cos^2 / M))
    //   x_acc     = temp - ml theta_acc cos / M
    double force = action == 1 ? FORCE_MAG : -FORCE_MAG;
    double cosTheta = Math.cos(theta);
    double sinTheta = Math.sin(theta);
    double temp = (force + POLE_MASS_LENGTH * (thetaDot * thetaDot) * sinTheta) / TOTAL_MASS;
    double thetaAcc = (GRAVITY * sinTheta - cosTheta * temp)
        / (LENGTH * (4.0 / 3.0 - MASS_POLE * (cosTheta * cosTheta) / TOTAL_MASS));
    double xAcc = temp - POLE_MASS_LENGTH * thetaAcc * cosTheta / TOTAL_MASS;
    // Explicit Euler: positions advance with the old velocities.
    x = x + TAU * xDot;
    xDot = xDot + TAU * xAcc;
    theta = theta + TAU * thetaDot;
    thetaDot = thetaDot + TAU * thetaAcc;
    elapsedSteps++;
    terminated = x < -X_THRESHOLD || x > X_THRESHOLD
        || theta < -THETA_THRESHOLD_RADIANS || theta > THETA_THRESHOLD_RADIANS;
    return new Step(observation(), 1.0, terminated, elapsedSteps >= maxEpisodeSteps);
  }

  /**
   * The current state cast to float32: {@code (x, x_dot, theta, theta_dot)}, a fresh array.
   *
   * @throws IllegalStateException before the first reset
   */
  public float[] observation() {
    requireStarted();
    return new float[] {(float) x, (float) xDot, (float) theta, (float) thetaDot};
  }

  /**
   * The current double-precision state {@code (x, x_dot, theta, theta_dot)}, a fresh array.
   *
   * @throws IllegalStateException before the first reset
   */
  public double[] state() {
    requireStarted();
    return new double[] {x, xDot, theta, thetaDot};
  }

  /** True when the last step terminated the episode (a reset is needed before the next step). */
  public boolean isTerminated() {
    return terminated;
  }

  /** Steps taken since the last reset. */
  public int elapsedSteps() {
    return elapsedSteps;
  }

  /** The time limit in steps (500 for v1). */
  public int maxEpisodeSteps() {
    return maxEpisodeSteps;
  }

  private void requireStarted() {
    if (!started) {
      throw new IllegalStateException("CartPole has not been reset yet: call reset() first");
    }
  }
}
