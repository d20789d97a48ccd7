package dev.batchrpc.ps;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The parameter server's validated settings (one record, built and checked at start; each message
 * names the command-line flag of the bad value).
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
 */
public record PsConfig(int trainers, List<String> participants, Duration maxWait, boolean runPartial,
    String device, ModelSpec model, float lr, float momentum, long seed, int grpcPort,
    String grpcHost, CheckpointConfig checkpoints) {

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

  /** The settings without checkpoints. */
  public PsConfig(int trainers, List<String> participants, Duration maxWait, boolean runPartial,
      String device, ModelSpec model, float lr, float momentum, long seed, int grpcPort,
      String grpcHost) {
    this(trainers, participants, maxWait, runPartial, device, model, lr, momentum, seed, grpcPort,
        grpcHost, CheckpointConfig.OFF);
  }

  /** The tutorial's defaults for a model: N trainers, lr 0.001, momentum 0.9, no gRPC. */
  public static PsConfig of(int trainers, ModelSpec model) {
    return new PsConfig(trainers, List.of(), null, true, "cpu", model, 0.001f, 0.9f, 0, -1,
        "127.0.0.1");
  }

  /** This config with a fixed set of participants. */
  public PsConfig withParticipants(String... ids) {
    return new PsConfig(trainers, Arrays.asList(ids), maxWait, runPartial, device, model, lr,
        momentum, seed, grpcPort, grpcHost, checkpoints);
  }

  /** This config with a gRPC server on {@code port} (0: any free port). */
  public PsConfig withGrpcPort(int port) {
    return new PsConfig(trainers, participants, maxWait, runPartial, device, model, lr, momentum,
        seed, port, grpcHost, checkpoints);
  }

  /** This config with another seed for the initial parameters. */
  public PsConfig withSeed(long newSeed) {
    return new PsConfig(trainers, participants, maxWait, runPartial, device, model, lr, momentum,
        newSeed, grpcPort, grpcHost, checkpoints);
  }

  /** This config with checkpoint settings. */
  public PsConfig withCheckpoints(CheckpointConfig newCheckpoints) {
    return new PsConfig(trainers, participants, maxWait, runPartial, device, model, lr, momentum,
        seed, grpcPort, grpcHost, newCheckpoints);
  }

  /**
   * The largest gRPC message the server must accept or send: the model (or one gradient) as
   * float32 bytes plus headroom for the envelope (ids, shape, version).
   */
  public long grpcMaxMessageBytes() {
    return 4L * model.parameterCount() + (1 << 20);
  }
}
