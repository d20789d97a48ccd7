package dev.batchrpc.ps;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ps --round-log FILE}: the audit trail of who trained the model. One line per optimizer
 * step, appended before any of the round's callers is answered, so a trainer can never hold an
 * answer whose round is missing here, even if the server is killed the next instant (each line is
 * one {@code write} to a file opened for appending: it is in the kernel's hands when the call
 * returns, though not necessarily on disk):
 *
 * <pre>
 * # batch-rpc ps round log, pid 4711, started 2026-12-07T05:40:00Z: version unix_ms trainers ids
 * 1201 1796621002137 3 t0,t1,t2
 * </pre>
 *
 * <p>A restarted server appends to the same file; its versions start again from the checkpoint it
 * restored, so a version may appear twice (the rounds after the checkpoint that the crash lost).
 * A failing write (a full disk) is reported once per failure streak and never stops the training.
 *
 * <p>Not thread-safe: the round's worker writes it, one step at a time.
 */
public final class RoundLog implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(RoundLog.class.getName());

  private final Path file;
  private final FileChannel channel;
  private final StringBuilder line = new StringBuilder(256);
  private boolean failing;

  private RoundLog(Path file, FileChannel channel) {
    this.file = file;
    this.channel = channel;
  }

  /**
   * Opens {@code file} for appending (created if missing) and writes the header line.
   *
   * @throws IllegalArgumentException naming {@code --round-log} when it cannot be opened
   */
  static RoundLog open(Path file) {
    try {
      FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.APPEND);
      RoundLog log = new RoundLog(file, ch);
      log.write("# batch-rpc ps round log, pid " + ProcessHandle.current().pid() + ", started " + Instant.now()
          + ": version unix_ms trainers ids\n");
      return log;
    } catch (IOException e) {
      throw new IllegalArgumentException("--round-log " + file + ": cannot open it for appending: " + e, e);
    }
  }

  /** Appends the line of the step that made {@code version} from {@code ids}' gradients. */
  void record(long version, List<String> ids) {
    line.setLength(0);
    line.append(version).append(' ').append(System.currentTimeMillis()).append(' ').append(ids.size()).append(' ');
    for (int i = 0; i < ids.size(); i++) {
      if (i > 0) {
        line.append(',');
      }
      line.append(ids.get(i));
    }
    line.append('\n');
    try {
      write(line.toString());
      if (failing) {
        failing = false;
        LOG.log(System.Logger.Level.INFO, "ps: --round-log " + file + " is written again from version " + version);
      }
    } catch (IOException e) {
      if (!failing) {
        failing = true;
        LOG.log(System.Logger.Level.WARNING, "ps: --round-log " + file + ": cannot append version " + version
            + " (training goes on; the log has a gap until a write succeeds): " + e);
      }
    }
  }

  private void write(String text) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      LOG.log(System.Logger.Level.DEBUG, "closing --round-log " + file + ": " + e);
    }
  }

  /** One parsed line of a round log. */
  public record Entry(long version, long unixMs, List<String> ids) {
  }

  /** Parses a round log (header lines skipped); for tools and tests. */
  public static List<Entry> read(Path file) throws IOException {
    List<Entry> out = new ArrayList<>();
    for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (l.isBlank() || l.startsWith("#")) {
        continue;
      }
      String[] f = l.split(" ");
      out.add(new Entry(Long.parseLong(f[0]), Long.parseLong(f[1]), f.length > 3 ? List.of(f[3].split(",")) : List.of()));
    }
    return out;
  }
}
