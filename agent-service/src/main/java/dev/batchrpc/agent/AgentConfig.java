package dev.batchrpc.agent;

import dev.batchrpc.proto.Addresses;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * The agent's settings, validated at construction (an invalid value throws
 * {@link IllegalArgumentException} naming the setting).
 *
 * @param observerIds the observers, in index order ({@code --observers N}: {@code observer-0..N-1});
 *     index i picks observer i's random streams, so the order is part of the run's identity
 * @param mode batch or non-batch action selection ({@code --mode})
 * @param seed the run's seed ({@code --seed}): initial parameters and every observer's dropout and
 *     sampling streams
 * @param gamma the discount of the reward-to-go returns ({@code --gamma}), in [0, 1]
 * @param lr Adam's learning rate ({@code --lr}), &gt; 0
 * @param device {@code auto}, {@code cpu} or {@code cuda} ({@code --device})
 * @param grpcPort the gRPC port ({@code --grpc-port}): -1 for none, 0 for any free port
 * @param grpcHost the address the gRPC server binds ({@code --grpc-host})
 * @param episodeTimeoutMs the longest one observer's episode may take ({@code --episode-timeout-ms})
 * @param maxWaitMs how long a step round waits after its first state before it closes with the
 *     observers that sent theirs ({@code --max-wait-ms}), 0 for no limit
 * @param runPartial {@code --partial-policy}: a step round closed by the maximum wait answers the
 *     observers that arrived (true; the missing ones sit out the rest of the episode) or fails them
 * @param startWaitMs ({@code --start-wait-ms}) with {@code runPartial}: the first episode begins this
 *     long after the first observer registered even if not all N have, with those registered; the
 *     others take part from the episode after they register. 0: wait for all N
 */
public record AgentConfig(List<String> observerIds, AgentMode mode, long seed, double gamma, float lr,
    String device, int grpcPort, String grpcHost, long episodeTimeoutMs, long maxWaitMs,
    boolean runPartial, long startWaitMs) {

  /** The tutorial's learning rate. */
  public static final float DEFAULT_LR = 0.01f;
  /** Default episode timeout: ten minutes. */
  public static final long DEFAULT_EPISODE_TIMEOUT_MS = 600_000;
  /** Default maximum wait of a step round: a step takes microseconds, so 10 s means trouble. */
  public static final long DEFAULT_MAX_WAIT_MS = 10_000;

  /** Validates and copies. */
  public AgentConfig {
    if (observerIds == null || observerIds.isEmpty()) {
      throw new IllegalArgumentException("--observers must be at least 1");
    }
    observerIds = List.copyOf(observerIds);
    if (new HashSet<>(observerIds).size() != observerIds.size()) {
      throw new IllegalArgumentException("observer ids must be distinct, got " + observerIds);
    }
    for (String id : observerIds) {
      if (!Addresses.isValidId(id)) {
        throw new IllegalArgumentException("observer id must match [A-Za-z0-9_.-]{1,128}, got '" + id + "'");
      }
    }
    if (mode == null) {
      throw new IllegalArgumentException("--mode must be batch or nobatch");
    }
    if (!(gamma >= 0.0 && gamma <= 1.0)) {
      throw new IllegalArgumentException("--gamma must be in [0, 1], got " + gamma);
    }
    if (!(lr > 0f) || !Float.isFinite(lr)) {
      throw new IllegalArgumentException("--lr must be a positive number, got " + lr);
    }
    if (grpcPort < -1 || grpcPort > 65535) {
      throw new IllegalArgumentException("--grpc-port must be -1 (off), 0 (any) or 1-65535, got " + grpcPort);
    }
    if (episodeTimeoutMs <= 0) {
      throw new IllegalArgumentException("--episode-timeout-ms must be > 0, got " + episodeTimeoutMs);
    }
    if (maxWaitMs < 0) {
      throw new IllegalArgumentException("--max-wait-ms must be >= 0 (0: no limit), got " + maxWaitMs);
    }
    if (startWaitMs < 0) {
      throw new IllegalArgumentException("--start-wait-ms must be >= 0 (0: wait for all observers), got "
          + startWaitMs);
    }
    if (grpcHost == null || grpcHost.isBlank()) {
      throw new IllegalArgumentException("--grpc-host must not be empty");
    }
    if (device == null || device.isBlank()) {
      device = "auto";
    }
  }

  /** {@code n} observers {@code observer-0..n-1}, the tutorial's lr and gamma 1.0, CPU, no gRPC. */
  public static AgentConfig of(int n, AgentMode mode, long seed) {
    if (n < 1) {
      throw new IllegalArgumentException("--observers must be at least 1, got " + n);
    }
    List<String> ids = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      ids.add(Addresses.defaultObserverId(i));
    }
    return new AgentConfig(ids, mode, seed, 1.0, DEFAULT_LR, "cpu", -1, "127.0.0.1", DEFAULT_EPISODE_TIMEOUT_MS,
        DEFAULT_MAX_WAIT_MS, true, 0);
  }

  /** The number of observers. */
  public int observers() {
    return observerIds.size();
  }

  /** The same with another gRPC address. */
  public AgentConfig withGrpc(String host, int port) {
    return new AgentConfig(observerIds, mode, seed, gamma, lr, device, port, host, episodeTimeoutMs, maxWaitMs,
        runPartial, startWaitMs);
  }

  /** The same with another discount, learning rate and device. */
  public AgentConfig withTraining(double gamma, float lr, String device) {
    return new AgentConfig(observerIds, mode, seed, gamma, lr, device, grpcPort, grpcHost, episodeTimeoutMs,
        maxWaitMs, runPartial, startWaitMs);
  }

  /** The same with another episode timeout. */
  public AgentConfig withEpisodeTimeoutMs(long ms) {
    return new AgentConfig(observerIds, mode, seed, gamma, lr, device, grpcPort, grpcHost, ms, maxWaitMs,
        runPartial, startWaitMs);
  }

  /** The same with another step-round maximum wait (0: none) and partial-round policy. */
  public AgentConfig withRoundWait(long ms, boolean partialRuns) {
    return new AgentConfig(observerIds, mode, seed, gamma, lr, device, grpcPort, grpcHost, episodeTimeoutMs,
        ms, partialRuns, startWaitMs);
  }

  /** The same with another start wait (0: the first episode waits for all N observers). */
  public AgentConfig withStartWait(long ms) {
    return new AgentConfig(observerIds, mode, seed, gamma, lr, device, grpcPort, grpcHost, episodeTimeoutMs,
        maxWaitMs, runPartial, ms);
  }
}
