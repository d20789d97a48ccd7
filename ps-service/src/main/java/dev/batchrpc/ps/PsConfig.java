package dev.batchrpc.ps;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The parameter server's validated settings (one record, built and checked at start; each message
 * names the command-line flag of the bad value). Build one by name with {@link #builder}.
 *
 * @param trainers {@code --trainers}: the round size N (gradients averaged per step)
 * @param participants {@code --participants}: the only trainer ids allowed, or empty to admit
 *     every trainer that fetched the model once ({@code GetModel} with its id registers it)
 * @param maxWait {@code --max-wait-ms}: how long a round waits after its first arrival, or null
 *     to wait for all N
 * @param runPartial {@code --partial-policy}: run a timed-out round with what arrived (true) or
 *     fail its callers (false)
 * @param device {@code --device}: auto, cpu or cuda
 * @param model {@code --model}: the model the server holds
 * @param lr {@code --lr}: SGD learning rate
 * @param momentum {@code --momentum}: SGD momentum
 * @param seed {@code --seed}: seeds the initial parameters
 * @param grpcPort {@code --grpc-port}: the gRPC port, 0 for any free port, -1 for no gRPC server
 * @param grpcHost {@code --grpc-host}: the address the gRPC server binds
 * @param checkpoints {@code --checkpoint-*}: durability (off: {@link CheckpointConfig#OFF})
 * @param exportTo {@code --export}: the safetensors file the model is written to when the server
 *     stops, or null
 * @param roundLog {@code --round-log}: the file each step's version and trainers are appended to
 *     ({@link RoundLog}), or null
 */
public record PsConfig(int trainers, List<String> participants, Duration maxWait, boolean runPartial,
    String device, ModelSpec model, float lr, float momentum, long seed, int grpcPort,
    String grpcHost, CheckpointConfig checkpoints, java.nio.file.Path exportTo, java.nio.file.Path roundLog) {

  /** Validates every field. */
  public PsConfig {
    if (trainers < 1) {
      throw new IllegalArgumentException("--trainers must be at least 1, got " + trainers);
    }
    participants = participants == null ? List.of() : List.copyOf(participants);
    for (String p : participants) {
      if (!dev.batchrpc.proto.Addresses.isValidId(p)) {
        throw new IllegalArgumentException("--participants: invalid id '" + p
            + "' (1-128 characters from [A-Za-z0-9_.-])");
      }
    }
    if (Set.copyOf(participants).size() != participants.size()) {
      throw new IllegalArgumentException("--participants has a duplicate id: " + participants);
    }
    if (!participants.isEmpty() && participants.size() < trainers) {
      throw new IllegalArgumentException("--participants names " + participants.size()
          + " trainers but --trainers is " + trainers + ": a round could never fill");
    }
    if (maxWait != null && maxWait.toMillis() < 1) {
      throw new IllegalArgumentException("--max-wait-ms must be at least 1 (or 0 for none), got "
          + maxWait.toMillis());
    }
    if (model == null) {
      throw new IllegalArgumentException("--model is required");
    }
    if (!(lr > 0) || !Float.isFinite(lr)) {
      throw new IllegalArgumentException("--lr must be a positive finite number, got " + lr);
    }
    if (!(momentum >= 0 && momentum < 1)) {
      throw new IllegalArgumentException("--momentum must be in [0, 1), got " + momentum);
    }
    if (grpcPort < -1 || grpcPort > 65535) {
      throw new IllegalArgumentException("--grpc-port must be -1 (off), 0 (any free port) or 1-65535, got "
          + grpcPort);
    }
    if (device == null || device.isBlank()) {
      throw new IllegalArgumentException("--device must be one of auto, cpu, cuda");
    }
    checkpoints = checkpoints == null ? CheckpointConfig.OFF : checkpoints;
  }

  /**
   * A builder with the tutorial's defaults for the rest: every trainer that fetched the model may
   * join, no round timeout (run partial rounds if one is set), CPU, lr 0.001, momentum 0.9, seed 0,
   * no gRPC (its host loopback), no checkpoints.
   */
  public static Builder builder(int trainers, ModelSpec model) {
    return new Builder(trainers, model);
  }

  /** The tutorial's defaults for a model: N trainers, lr 0.001, momentum 0.9, no gRPC. */
  public static PsConfig of(int trainers, ModelSpec model) {
    return builder(trainers, model).build();
  }

  /** A builder holding this config's values. */
  public Builder toBuilder() {
    return new Builder(trainers, model).participants(participants).maxWait(maxWait).runPartial(runPartial)
        .device(device).lr(lr).momentum(momentum).seed(seed).grpcPort(grpcPort).grpcHost(grpcHost)
        .checkpoints(checkpoints).exportTo(exportTo).roundLog(roundLog);
  }

  /** This config with a fixed set of participants. */
  public PsConfig withParticipants(String... ids) {
    return toBuilder().participants(Arrays.asList(ids)).build();
  }

  /** This config with a gRPC server on {@code port} (0: any free port). */
  public PsConfig withGrpcPort(int port) {
    return toBuilder().grpcPort(port).build();
  }

  /** This config with another seed for the initial parameters. */
  public PsConfig withSeed(long newSeed) {
    return toBuilder().seed(newSeed).build();
  }

  /** This config with checkpoint settings. */
  public PsConfig withCheckpoints(CheckpointConfig newCheckpoints) {
    return toBuilder().checkpoints(newCheckpoints).build();
  }

  /**
   * Builds a {@link PsConfig} by name rather than by position; {@link #build()} validates. Each
   * setter is the record component of the same name.
   */
  public static final class Builder {
    private int trainers;
    private ModelSpec model;
    private List<String> participants = List.of();
    private Duration maxWait;
    private boolean runPartial = true;
    private String device = "cpu";
    private float lr = 0.001f;
    private float momentum = 0.9f;
    private long seed;
    private int grpcPort = -1;
    private String grpcHost = "127.0.0.1";
    private CheckpointConfig checkpoints = CheckpointConfig.OFF;
    private java.nio.file.Path exportTo;
    private java.nio.file.Path roundLog;

    private Builder(int trainers, ModelSpec model) {
      this.trainers = trainers;
      this.model = model;
    }

    /** {@code --trainers}. */
    public Builder trainers(int value) {
      trainers = value;
      return this;
    }

    /** {@code --model}. */
    public Builder model(ModelSpec value) {
      model = value;
      return this;
    }

    /** {@code --participants}; empty admits every trainer that fetched the model. */
    public Builder participants(List<String> value) {
      participants = value;
      return this;
    }

    /** {@code --max-wait-ms}; null waits for all trainers. */
    public Builder maxWait(Duration value) {
      maxWait = value;
      return this;
    }

    /** {@code --partial-policy}: true runs a timed-out round with what arrived. */
    public Builder runPartial(boolean value) {
      runPartial = value;
      return this;
    }

    /** {@code --device}. */
    public Builder device(String value) {
      device = value;
      return this;
    }

    /** {@code --lr}. */
    public Builder lr(float value) {
      lr = value;
      return this;
    }

    /** {@code --momentum}. */
    public Builder momentum(float value) {
      momentum = value;
      return this;
    }

    /** {@code --seed}. */
    public Builder seed(long value) {
      seed = value;
      return this;
    }

    /** {@code --grpc-port}: -1 none, 0 any free port. */
    public Builder grpcPort(int value) {
      grpcPort = value;
      return this;
    }

    /** {@code --grpc-host}. */
    public Builder grpcHost(String value) {
      grpcHost = value;
      return this;
    }

    /** {@code --checkpoint-*}. */
    public Builder checkpoints(CheckpointConfig value) {
      checkpoints = value;
      return this;
    }

    /** {@code --export}: where the model is written when the server stops (null: nowhere). */
    public Builder exportTo(java.nio.file.Path value) {
      exportTo = value;
      return this;
    }

    /** {@code --round-log}: the file each step's line is appended to (null: none). */
    public Builder roundLog(java.nio.file.Path value) {
      roundLog = value;
      return this;
    }

    /**
     * The validated config.
     *
     * @throws IllegalArgumentException naming the flag of a bad value
     */
    public PsConfig build() {
      return new PsConfig(trainers, participants, maxWait, runPartial, device, model, lr, momentum, seed,
          grpcPort, grpcHost, checkpoints, exportTo, roundLog);
    }
  }

  /**
   * The largest gRPC message the server must accept or send: the model (or one gradient) as
   * float32 bytes plus headroom for the envelope (ids, shape, version; an {@code InitModel}'s
   * layout). With {@code --model init}, the largest model an {@code InitModel} may send.
   */
  public long grpcMaxMessageBytes() {
    return 4L * model.maxParameterCount() + (1 << 20);
  }
}
