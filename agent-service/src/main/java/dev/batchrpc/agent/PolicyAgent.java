package dev.batchrpc.agent;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.Tensor;
import dev.batchrpc.compute.nn.PolicyNet;
import dev.batchrpc.compute.optim.Adam;
import dev.batchrpc.compute.random.Rng;
import dev.batchrpc.compute.rl.EpisodeReturns;

/**
 * The agent's learning state: the tutorial's policy, Adam, each observer's random streams, the
 * current episode's record and the running reward. No Vert.x in it.
 *
 * <h2>Determinism</h2>
 * Observer {@code i} has its own {@link Rng} (from (seed, i)); for each of its steps it draws 128
 * dropout scales, then one sampling uniform. Draws therefore never depend on arrival order,
 * timing, batch composition or deployment, and with one observer batch and non-batch modes make
 * the same draws. The initial parameters come from a stream of their own.
 *
 * <h2>The backward pass</h2>
 * {@link #act} records, per (step t, observer i), the state, the dropout scales and the action in
 * row {@code t * N + i}. {@link #finishEpisode} computes the returns, recomputes the forward pass
 * of the whole episode as one [T*N] batch with the recorded scales ({@link PolicyNet#reinforce}:
 * exact, not a re-sample), and takes one Adam step on
 * {@code loss = sum_rows -log p(a_row | s_row) * R_row / N}, each observer's actions weighted by
 * its own returns, in both modes.
 *
 * <p>Not thread-safe: one caller at a time. On a GPU backend every call comes from the agent's
 * ordered worker thread (the GPU context is bound to it); on the CPU {@link #act} may also run on
 * the agent's event loop (inline rounds), never concurrently with the worker's calls (the agent
 * admits steps only between {@link #beginEpisode} and {@link #finishEpisode}; the hand-offs
 * between the two threads order every access).
 */
public final class PolicyAgent implements AutoCloseable {

  /** What one episode's update did; {@code observers}: how many observers' rows it used. */
  public record EpisodeUpdate(float loss, double episodeReward, double runningReward, int observers) {
  }

  private static final int IN = PolicyNet.IN;
  private static final int HIDDEN = PolicyNet.HIDDEN;

  private final PolicyNet net;
  private final boolean gpu;
  private final Adam adam;
  private final Rng[] streams;
  private final int n;
  private double runningReward;

  // The current episode's record; row = t * n + i.
  private int steps;
  private float[] states = new float[0];
  private float[] scales = new float[0];
  private int[] actions = new int[0];
  private boolean[] acted = new boolean[0];

  /**
   * A fresh agent.
   *
   * @param backend where the policy computes (the agent's ordered worker must be its only user)
   * @param observers N, the number of observers
   * @param seed the run's seed
   * @param lr Adam's learning rate
   */
  public PolicyAgent(Backend backend, int observers, long seed, float lr) {
    if (observers < 1) {
      throw new IllegalArgumentException("observers must be at least 1, got " + observers);
    }
    this.n = observers;
    this.gpu = backend.isGpu();
    this.net = new PolicyNet(backend, PolicyNet.initialParams(new Rng(derive(seed, 0, 0))));
    this.adam = new Adam(backend, net.params(), net.grad(), lr);
    this.streams = new Rng[observers];
    for (int i = 0; i < observers; i++) {
      streams[i] = new Rng(derive(seed, 1, i));
    }
  }

  /** A SplitMix64 mix of (seed, stream, index): unrelated seeds for unrelated streams. */
  static long derive(long seed, int stream, int index) {
    long z = mix(seed ^ 0x5EED_A6E7_0000_0000L) + stream;
    return mix(mix(z) + index);
  }

  private static long mix(long z) {
    z += 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Whether the backend is a GPU (then every call must come from the one thread that drives it). */
  public boolean isGpu() {
    return gpu;
  }

  /** N. */
  public int observers() {
    return n;
  }

  /** Starts recording an episode of {@code nSteps} steps (buffers are reused between episodes). */
  public void beginEpisode(int nSteps) {
    if (nSteps <= 0) {
      throw new IllegalArgumentException("n_steps must be > 0, got " + nSteps);
    }
    // The record's largest array holds rows x HIDDEN dropout scales: refuse an episode whose
    // record would not fit one Java array rather than overflow the index arithmetic.
    long records = (long) nSteps * n * HIDDEN;
    if (records > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("n_steps " + nSteps + " x " + n + " observers is too long an episode: "
          + "its record would need " + records + " dropout scales, at most " + (Integer.MAX_VALUE - 8)
          + " fit (fewer steps per episode)");
    }
    int rows = nSteps * n;
    if (states.length < rows * IN) {
      states = new float[rows * IN];
      scales = new float[rows * HIDDEN];
      actions = new int[rows];
      acted = new boolean[rows];
    } else {
      java.util.Arrays.fill(acted, false);
    }
    steps = nSteps;
  }

  /** The number of steps of the episode being recorded (0 before the first). */
  public int steps() {
    return steps;
  }

  /**
   * One forward pass over the given observers' states of one step: draws each observer's dropout
   * scales and uniform from its own stream, samples, and records each row for the backward.
   *
   * @param step the step, in [0, steps)
   * @param observers the observers' indices, one per row (the agent passes them ascending)
   * @param rowStates each row's 4 state values
   * @return the probabilities [rows x 2] and the actions, row for row
   * @throws IllegalArgumentException on a bad step, index or state, or an (observer, step) that
   *     already acted (nothing is drawn or recorded)
   */
  public PolicyNet.Act act(int step, int[] observers, float[][] rowStates) {
    int b = observers.length;
    if (step < 0 || step >= steps) {
      throw new IllegalArgumentException("step " + step + " is outside the episode's [0, " + steps + ")");
    }
    if (rowStates.length != b || b == 0) {
      throw new IllegalArgumentException(b + " observers but " + rowStates.length + " states");
    }
    for (int r = 0; r < b; r++) {
      int i = observers[r];
      if (i < 0 || i >= n) {
        throw new IllegalArgumentException("observer index " + i + " is outside [0, " + n + ")");
      }
      if (acted[step * n + i]) {
        throw new IllegalArgumentException("observer " + i + " already acted at step " + step);
      }
      if (rowStates[r].length != IN) {
        throw new IllegalArgumentException("state of observer " + i + " has " + rowStates[r].length
            + " values, expected " + IN);
      }
    }
    Tensor x = Tensor.zeros(b, IN);
    Tensor scale = Tensor.zeros(b, HIDDEN);
    float[] u = new float[b];
    for (int r = 0; r < b; r++) {
      Rng rng = streams[observers[r]];
      System.arraycopy(rowStates[r], 0, x.data(), r * IN, IN);
      rng.dropoutScales(scale.data(), r * HIDDEN, HIDDEN, PolicyNet.DROPOUT);
      u[r] = rng.nextFloat();
    }
    PolicyNet.Act act = net.act(x, scale, u);
    for (int r = 0; r < b; r++) {
      int row = step * n + observers[r];
      System.arraycopy(x.data(), r * IN, states, row * IN, IN);
      System.arraycopy(scale.data(), r * HIDDEN, scales, row * HIDDEN, HIDDEN);
      actions[row] = act.actions()[r];
      acted[row] = true;
    }
    return act;
  }

  /**
   * Ends the episode: returns per observer (reward-to-go per sub-episode), one REINFORCE gradient
   * over the whole episode as one batch, one Adam step, and the running reward
   * {@code 0.5 * mean(first-sub-episode rewards) + 0.5 * previous}.
   *
   * @param rewards per observer (index order), each step's reward
   * @param done per observer, each step's done flag
   * @param firstEpisodeRewards per observer, its episode reward
   * @param gamma the discount
   * @throws IllegalStateException when some (observer, step) did not act (nothing changes)
   */
  public EpisodeUpdate finishEpisode(float[][] rewards, boolean[][] done, float[] firstEpisodeRewards,
                                     double gamma) {
    boolean[] all = new boolean[n];
    java.util.Arrays.fill(all, true);
    return finishEpisode(rewards, done, firstEpisodeRewards, gamma, all);
  }

  /**
   * Ends the episode with the observers that finished it: as {@link #finishEpisode(float[][],
   * boolean[][], float[], double)} over the {@code included} observers' rows only (an observer lost
   * or sitting out mid-episode is left out of the update and the rewards; the loss is divided by
   * the number included). With every observer included it is exactly the full update.
   *
   * @param rewards per observer (index order), each step's reward; ignored (may be null) for an
   *     observer not included
   * @param done per observer, each step's done flag; ignored for an observer not included
   * @param firstEpisodeRewards per observer, its episode reward
   * @param gamma the discount
   * @param included which observers finished the episode; at least one
   * @throws IllegalStateException when an included observer did not act at every step, or none is
   *     included (nothing changes)
   */
  public EpisodeUpdate finishEpisode(float[][] rewards, boolean[][] done, float[] firstEpisodeRewards,
                                     double gamma, boolean[] included) {
    if (rewards.length != n || done.length != n || firstEpisodeRewards.length != n || included.length != n) {
      throw new IllegalArgumentException("expected the results of " + n + " observers, got " + rewards.length);
    }
    int live = 0;
    for (int i = 0; i < n; i++) {
      if (!included[i]) {
        continue;
      }
      live++;
      for (int t = 0; t < steps; t++) {
        if (!acted[t * n + i]) {
          throw new IllegalStateException("observer " + i + " did not act at step " + t + " of this episode");
        }
      }
      if (rewards[i].length != steps || done[i].length != steps) {
        throw new IllegalArgumentException("observer " + i + " reported " + rewards[i].length
            + " rewards and " + done[i].length + " done flags for an episode of " + steps + " steps");
      }
    }
    if (live == 0) {
      throw new IllegalStateException("no observer finished the episode");
    }
    // Rows t * live + j for the j-th included observer: with everyone included, the recorded
    // order t * n + i itself.
    int rows = steps * live;
    float[] xs = new float[rows * IN];
    float[] ss = new float[rows * HIDDEN];
    int[] as = new int[rows];
    float[] returns = new float[rows];
    double sum = 0;
    int j = 0;
    for (int i = 0; i < n; i++) {
      if (!included[i]) {
        continue;
      }
      float[] r = EpisodeReturns.compute(rewards[i], done[i], gamma).returns();
      for (int t = 0; t < steps; t++) {
        int from = t * n + i;
        int to = t * live + j;
        System.arraycopy(states, from * IN, xs, to * IN, IN);
        System.arraycopy(scales, from * HIDDEN, ss, to * HIDDEN, HIDDEN);
        as[to] = actions[from];
        returns[to] = r[t];
      }
      sum += firstEpisodeRewards[i];
      j++;
    }
    float loss = net.reinforce(Tensor.of(xs, rows, IN), Tensor.of(ss, rows, HIDDEN), as, returns, live);
    adam.step();
    double episodeReward = sum / live;
    runningReward = 0.5 * episodeReward + 0.5 * runningReward;
    steps = 0;
    return new EpisodeUpdate(loss, episodeReward, runningReward, live);
  }

  /** The running reward (0 before the first episode). */
  public double runningReward() {
    return runningReward;
  }

  /** A host copy of the parameters (898 floats, {@link PolicyNet} order). */
  public float[] parameters() {
    return net.paramsCopy();
  }

  /** A copy of the recorded states [steps * N x 4] of the current episode (for checks). */
  public float[] recordedStates() {
    return java.util.Arrays.copyOf(states, steps * n * IN);
  }

  /** A copy of the recorded dropout scales [steps * N x 128] of the current episode (for checks). */
  public float[] recordedScales() {
    return java.util.Arrays.copyOf(scales, steps * n * HIDDEN);
  }

  /** A copy of the recorded actions [steps * N] of the current episode (for checks). */
  public int[] recordedActions() {
    return java.util.Arrays.copyOf(actions, steps * n);
  }

  @Override
  public void close() {
    adam.close();
    net.close();
  }
}
