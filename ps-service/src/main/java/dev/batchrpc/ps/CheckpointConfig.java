package dev.batchrpc.ps;

import java.nio.file.Path;

/**
 * The parameter server's checkpoint settings (part of {@link PsConfig}; each message names its
 * flag).
 *
 * @param dir {@code --checkpoint-dir}: where checkpoints go, or null for none (durability off)
 * @param every {@code --checkpoint-every}: rounds between checkpoints; also the most updates a
 *     crash can lose
 * @param keep {@code --checkpoint-keep}: how many of the newest checkpoints to keep
 * @param allowEmptyRestore {@code --allow-empty-restore}: start from the initial model even though
 *     the directory holds only torn or corrupt checkpoints (otherwise the start is refused)
 */
public record CheckpointConfig(Path dir, int every, int keep, boolean allowEmptyRestore) {

  /** The default of {@code --checkpoint-every}. */
  public static final int DEFAULT_EVERY = 50;
  /** The default of {@code --checkpoint-keep}. */
  public static final int DEFAULT_KEEP = 3;

  /** No checkpoints. */
  public static final CheckpointConfig OFF = new CheckpointConfig(null, DEFAULT_EVERY, DEFAULT_KEEP);

  /** Validates the fields. */
  public CheckpointConfig {
    if (every < 1) {
      throw new IllegalArgumentException("--checkpoint-every must be at least 1 round, got " + every);
    }
    if (keep < 1) {
      throw new IllegalArgumentException("--checkpoint-keep must be at least 1, got " + keep);
    }
  }

  /** Checkpoints without {@code --allow-empty-restore}. */
  public CheckpointConfig(Path dir, int every, int keep) {
    this(dir, every, keep, false);
  }

  /** Checkpoints in {@code dir} every {@code every} rounds, keeping the default number. */
  public static CheckpointConfig in(Path dir, int every) {
    return new CheckpointConfig(dir, every, DEFAULT_KEEP);
  }

  /** Whether checkpoints are written at all. */
  public boolean enabled() {
    return dir != null;
  }
}
