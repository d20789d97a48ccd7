package dev.batchrpc.ps;

import java.io.IOException;
import dev.batchrpc.ps.model.TensorLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.zip.CRC32C;

/**
 * A directory of parameter-server checkpoints ({@code --checkpoint-dir}): writes them atomically,
 * keeps the newest {@code keep}, and restores the newest intact one.
 *
 * <h2>File format (version 2, all numbers little-endian)</h2>
 * <pre>
 *   8 bytes   magic "BRPCCKPT"
 *   int32     format version (2)
 *   int32     L, the model identity's length in bytes (1..1024)
 *   L bytes   the model identity, UTF-8 ({@link #identity(ModelSpec)}, e.g. "mlp 784,256,10")
 *   int32     T, the layout's tensor count (1..{@value #MAX_TENSORS}); then per tensor, in order:
 *     int32     N, the name's length in bytes (1..512), N bytes the name (UTF-8),
 *     int32     R, the rank (0..{@value #MAX_RANK}), R int64 the dimensions
 *   int32     P, the parameter count (the layout's)
 *   int64     the model version
 *   float32   SGD learning rate
 *   float32   SGD momentum
 *   int8      flags: bit 0 = a step was taken (the momentum buffer is initialised)
 *   P float32 the parameters
 *   P float32 the momentum buffer
 *   int32     CRC32C of every byte before it
 * </pre>
 * The length is fixed by the header and P, so a truncated (torn) file is recognised before its CRC
 * is. Format 1 (no layout: T and the tensors absent) is still read, with a null layout.
 *
 * <h2>Atomicity</h2>
 * A checkpoint is written to {@code ps-<version>.ckpt.tmp} in the same directory, forced to disk
 * ({@link FileChannel#force(boolean)}), renamed over {@code ps-<version>.ckpt} with
 * {@link StandardCopyOption#ATOMIC_MOVE} (rename(2): readers see the old name or the whole new
 * file, never part of it) and the directory is forced so the rename itself survives a power cut.
 * A crash at any point leaves every {@code .ckpt} file whole; at worst a stale {@code .tmp},
 * which the next write or restore deletes.
 *
 * <h2>Restore</h2>
 * The newest file (by the version in its name) that reads back whole with a matching CRC wins.
 * A torn or corrupt one is skipped with a warning and renamed to {@code .corrupt} (kept for
 * inspection, never restored or pruned), so it cannot shadow the good ones again. An intact
 * checkpoint of another model is refused (an exception naming {@code --checkpoint-dir}): a
 * directory belongs to one model.
 *
 * <p>Not thread-safe: one writer per directory (the parameter server's checkpoint thread), and
 * {@link #restore()} before the first write.
 *
 * <p>Length: over 350 lines on purpose. The file format, its atomic write and its restore rules
 * (torn, corrupt and foreign files) are one durability contract; split, a reader could miss that a
 * write and a restore must agree byte for byte.
 */
public final class CheckpointDirectory {

  /** The file format version written (format 1, without the layout, is still read). */
  public static final int FORMAT_VERSION = 2;
  /** The most tensors a checkpoint's layout may list. */
  static final int MAX_TENSORS = 1 << 20;
  /** The highest rank of a checkpoint's tensor. */
  static final int MAX_RANK = 64;
  static final byte[] MAGIC = "BRPCCKPT".getBytes(StandardCharsets.US_ASCII);
  static final String SUFFIX = ".ckpt";
  static final String TMP_SUFFIX = ".tmp";
  static final String CORRUPT_SUFFIX = ".corrupt";
  private static final int MAX_IDENTITY_BYTES = 1024;
  private static final int MAX_PARAMETERS = (Integer.MAX_VALUE - 8) / 4;
  /** Fixed bytes after the identity: count, version, lr, momentum, flags. */
  private static final int AFTER_IDENTITY = 4 + 8 + 4 + 4 + 1;
  private static final Pattern NAME = Pattern.compile("ps-(\\d{1,19})\\.ckpt");
  private static final int CHUNK_BYTES = 1 << 20;
  private static final System.Logger LOG = System.getLogger(CheckpointDirectory.class.getName());

  /**
   * What {@link #restore()} found.
   *
   * @param checkpoint the newest intact checkpoint, or null when there was none
   * @param file its file, or null
   * @param skipped one line per torn or corrupt file passed over ("name: reason"), newest first
   */
  public record Restored(CheckpointFile checkpoint, Path file, List<String> skipped) {

    /** Copies the list. */
    public Restored {
      skipped = List.copyOf(skipped);
    }

    /** Whether a checkpoint was found. */
    public boolean found() {
      return checkpoint != null;
    }
  }

  private final Path dir;
  /** The model this directory belongs to; null for {@link #newestIntact} (any model). */
  private final String identity;
  private final int parameterCount;
  private final int keep;

  private CheckpointDirectory(Path dir, ModelSpec model, int keep) {
    this.dir = dir;
    this.identity = model == null ? null : identity(model);
    this.parameterCount = model == null ? 0 : model.parameterCount();
    this.keep = keep;
  }

  /**
   * The newest intact checkpoint in {@code dir}, of any model (a server started with
   * {@code --model init} learns its model from it). Like {@link #restore()}: torn or corrupt files
   * are skipped and renamed aside; a missing directory holds none.
   *
   * @throws IOException if the directory cannot be listed
   */
  public static Restored newestIntact(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return new Restored(null, null, List.of());
    }
    return new CheckpointDirectory(dir, null, 1).restore();
  }

  /**
   * Opens (creating it if needed) the checkpoint directory of {@code model}.
   *
   * @param keep how many checkpoints to keep, at least 1
   * @throws IllegalArgumentException if the directory cannot be created or written, naming
   *     {@code --checkpoint-dir}
   */
  public static CheckpointDirectory open(Path dir, ModelSpec model, int keep) {
    if (keep < 1) {
      throw new IllegalArgumentException("--checkpoint-keep must be at least 1, got " + keep);
    }
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new IllegalArgumentException("--checkpoint-dir " + dir + " cannot be created: " + e, e);
    }
    if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
      throw new IllegalArgumentException("--checkpoint-dir " + dir + " is not a writable directory");
    }
    return new CheckpointDirectory(dir, model, keep);
  }

  /**
   * The model's identity as checkpoints record it: "mlp 784,256,10", "replay 23569502", or for a
   * user's model "tensors &lt;layout id&gt;" (its names, shapes and order: a directory restores only
   * into a server started with the same layout).
   */
  public static String identity(ModelSpec model) {
    return switch (model.kind()) {
      case "mlp" -> "mlp " + Arrays.stream(model.layers()).mapToObj(Integer::toString).collect(Collectors.joining(","));
      case "replay" -> "replay " + model.parameterCount();
      default -> "tensors " + model.layout().id();
    };
  }

  /** The file name of a checkpoint of {@code version}: {@code ps-000000000123.ckpt}. */
  public static String fileName(long version) {
    return String.format(Locale.ROOT, "ps-%012d%s", version, SUFFIX);
  }

  /**
   * The files an earlier restore found torn or corrupt and renamed to {@code .corrupt}.
   *
   * @throws IOException if the directory cannot be listed
   */
  public List<Path> corruptFiles() throws IOException {
    return corruptFiles(dir);
  }

  /**
   * The files in {@code dir} an earlier restore found torn or corrupt and renamed to {@code .corrupt}.
   *
   * @throws IOException if the directory cannot be listed
   */
  public static List<Path> corruptFiles(Path dir) throws IOException {
    try (java.util.stream.Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.getFileName().toString().endsWith(CORRUPT_SUFFIX)).sorted().toList();
    }
  }

  /** The directory. */
  public Path dir() {
    return dir;
  }

  /** The checkpoint files ({@code ps-<version>.ckpt}), newest first. */
  public List<Path> files() throws IOException {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        if (versionOf(p) >= 0) {
          out.add(p);
        }
      }
    }
    out.sort(Comparator.comparingLong(CheckpointDirectory::versionOf).reversed());
    return out;
  }

  /** The version in a checkpoint file's name, or -1 if it is not one. */
  static long versionOf(Path file) {
    Matcher m = NAME.matcher(file.getFileName().toString());
    if (!m.matches()) {
      return -1;
    }
    try {
      return Long.parseLong(m.group(1));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /**
   * Writes {@code checkpoint} atomically (temporary file, fsync, rename, fsync of the directory),
   * then deletes all but the newest {@code keep} checkpoints and any stale temporary file.
   *
   * @return the checkpoint's file
   * @throws IllegalArgumentException if the checkpoint is of another model
   * @throws IOException if writing fails (no {@code .ckpt} file is changed then)
   */
  public Path write(CheckpointFile checkpoint) throws IOException {
    if (!checkpoint.model().equals(identity) || checkpoint.parameterCount() != parameterCount) {
      throw new IllegalArgumentException("checkpoint of model '" + checkpoint.model() + "' ("
          + checkpoint.parameterCount() + " parameters) written to the directory of '" + identity + "'");
    }
    Path target = dir.resolve(fileName(checkpoint.version()));
    Path tmp = dir.resolve(target.getFileName() + TMP_SUFFIX);
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      encode(checkpoint, ch);
      ch.force(true);
    } catch (IOException | RuntimeException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    syncDirectory();
    prune();
    return target;
  }

  /**
   * Finds the newest intact checkpoint (deleting stale temporary files first). Torn or corrupt
   * files are skipped, logged as warnings, listed in the result and renamed to {@code .corrupt}.
   *
   * @throws IllegalStateException if the newest intact checkpoint is of another model (the
   *     message names {@code --checkpoint-dir} and both models)
   * @throws IOException if the directory cannot be listed
   */
  public Restored restore() throws IOException {
    deleteTemporaries();
    List<String> skipped = new ArrayList<>();
    for (Path file : files()) {
      CheckpointFile c;
      try {
        c = read(file);
      } catch (IOException e) {
        String why = file.getFileName() + ": " + e.getMessage();
        skipped.add(why);
        LOG.log(System.Logger.Level.WARNING, "skipping checkpoint " + file + ": " + e.getMessage()
            + "; renaming it to " + file.getFileName() + CORRUPT_SUFFIX + " and trying an older one");
        moveAside(file);
        continue;
      }
      if (identity != null && (!c.model().equals(identity) || c.parameterCount() != parameterCount)) {
        throw new IllegalStateException("--checkpoint-dir " + dir + " holds checkpoint "
            + file.getFileName() + " of model '" + c.model() + "' (" + c.parameterCount()
            + " parameters), but this server runs '" + identity + "' (" + parameterCount
            + " parameters): give each model its own --checkpoint-dir, or empty this one to start"
            + " from the initial model");
      }
      return new Restored(c, file, skipped);
    }
    return new Restored(null, null, skipped);
  }

  /**
   * Reads and verifies one checkpoint file.
   *
   * @throws IOException if it cannot be read or is not a whole, intact checkpoint (bad magic,
   *     unknown format version, wrong length: torn, or CRC mismatch: corrupt; the message says
   *     which)
   */
  public static CheckpointFile read(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      CRC32C crc = new CRC32C();
      ByteBuffer head = readBytes(ch, 16, size, crc);
      byte[] magic = new byte[MAGIC.length];
      head.get(magic);
      if (!Arrays.equals(magic, MAGIC)) {
        throw new IOException("not a batch-rpc checkpoint (bad magic)");
      }
      int format = head.getInt();
      if (format != FORMAT_VERSION && format != 1) {
        throw new IOException("format version " + format + ", this build reads versions 1 and " + FORMAT_VERSION);
      }
      int idLen = head.getInt();
      if (idLen < 1 || idLen > MAX_IDENTITY_BYTES) {
        throw new IOException("corrupt header (model identity of " + idLen + " bytes)");
      }
      byte[] id = new byte[idLen];
      readBytes(ch, idLen, size, crc).get(id);
      List<TensorLayout.Entry> entries = format == 1 ? null : readLayout(ch, size, crc);
      ByteBuffer rest = readBytes(ch, AFTER_IDENTITY, size, crc);
      int count = rest.getInt();
      long version = rest.getLong();
      float lr = rest.getFloat();
      float momentum = rest.getFloat();
      byte flags = rest.get();
      if (count < 1 || count > MAX_PARAMETERS) {
        throw new IOException("corrupt header (" + count + " parameters)");
      }
      TensorLayout layout = null;
      if (entries != null) {
        try {
          layout = TensorLayout.of(entries, MAX_PARAMETERS);
        } catch (IllegalArgumentException e) {
          throw new IOException("corrupt layout: " + e.getMessage());
        }
        if (layout.parameterCount() != count) {
          throw new IOException("corrupt header (the layout holds " + layout.parameterCount() + " parameters, the "
              + "header says " + count + ")");
        }
      }
      long expected = ch.position() + 8L * count + 4;
      if (size != expected) {
        throw new IOException((size < expected ? "truncated (torn write)" : "too long") + ": " + size
            + " bytes, a checkpoint of " + count + " parameters has " + expected);
      }
      float[] params = new float[count];
      float[] mom = new float[count];
      readFloats(ch, params, crc);
      readFloats(ch, mom, crc);
      int stored = readBytes(ch, 4, size, null).getInt();
      int actual = (int) crc.getValue();
      if (stored != actual) {
        throw new IOException(String.format(Locale.ROOT,
            "corrupt: CRC32C is %08x, the file says %08x", actual, stored));
      }
      if (version < 0) {
        throw new IOException("corrupt header (model version " + version + ")");
      }
      return new CheckpointFile(new String(id, StandardCharsets.UTF_8), layout, lr, momentum,
          new ParameterStore.State(version, (flags & 1) != 0, params, mom));
    }
  }

  /** The layout section of a format-2 file: T, then per tensor its name and shape. */
  private static List<TensorLayout.Entry> readLayout(FileChannel ch, long size, CRC32C crc) throws IOException {
    int tensors = readBytes(ch, 4, size, crc).getInt();
    if (tensors < 1 || tensors > MAX_TENSORS) {
      throw new IOException("corrupt header (a layout of " + tensors + " tensors)");
    }
    List<TensorLayout.Entry> entries = new ArrayList<>(Math.min(tensors, 1024));
    for (int i = 0; i < tensors; i++) {
      int nameLen = readBytes(ch, 4, size, crc).getInt();
      if (nameLen < 1 || nameLen > TensorLayout.MAX_NAME_BYTES) {
        throw new IOException("corrupt layout (tensor " + i + " has a name of " + nameLen + " bytes)");
      }
      byte[] name = new byte[nameLen];
      readBytes(ch, nameLen, size, crc).get(name);
      int rank = readBytes(ch, 4, size, crc).getInt();
      if (rank < 0 || rank > MAX_RANK) {
        throw new IOException("corrupt layout (tensor " + i + " has rank " + rank + ")");
      }
      long[] shape = new long[rank];
      if (rank > 0) {
        readBytes(ch, 8 * rank, size, crc).asLongBuffer().get(shape);
      }
      entries.add(new TensorLayout.Entry(new String(name, StandardCharsets.UTF_8), shape));
    }
    return entries;
  }

  /** The layout section's bytes (see the class comment). */
  private static ByteBuffer encodeLayout(TensorLayout layout) {
    List<byte[]> names = new ArrayList<>();
    int bytes = 4;
    for (TensorLayout.Entry e : layout.entries()) {
      byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
      names.add(name);
      bytes += 4 + name.length + 4 + 8 * e.shape().length;
    }
    ByteBuffer b = ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(layout.entries().size());
    for (int i = 0; i < names.size(); i++) {
      long[] shape = layout.entries().get(i).shape();
      b.putInt(names.get(i).length).put(names.get(i)).putInt(shape.length);
      for (long d : shape) {
        b.putLong(d);
      }
    }
    return b.flip();
  }

  /** The whole file's bytes, sequentially into {@code ch}. */
  static void encode(CheckpointFile c, FileChannel ch) throws IOException {
    CRC32C crc = new CRC32C();
    byte[] id = c.model().getBytes(StandardCharsets.UTF_8);
    if (id.length > MAX_IDENTITY_BYTES) {
      throw new IllegalArgumentException("model identity over " + MAX_IDENTITY_BYTES + " bytes");
    }
    if (c.layout() == null) {
      throw new IllegalArgumentException("a checkpoint is written with its model's layout");
    }
    ParameterStore.State s = c.state();
    ByteBuffer layout = encodeLayout(c.layout());
    ByteBuffer head = ByteBuffer.allocate(16 + id.length + layout.remaining() + AFTER_IDENTITY)
        .order(ByteOrder.LITTLE_ENDIAN);
    head.put(MAGIC).putInt(FORMAT_VERSION).putInt(id.length).put(id).put(layout)
        .putInt(s.parameters().length).putLong(s.version()).putFloat(c.lr()).putFloat(c.momentum())
        .put((byte) (s.stepped() ? 1 : 0)).flip();
    crc.update(head.duplicate());
    writeFully(ch, head);
    ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    writeFloats(ch, s.parameters(), chunk, crc);
    writeFloats(ch, s.momentumBuffer(), chunk, crc);
    ByteBuffer tail = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue()).flip();
    writeFully(ch, tail);
  }

  private static void writeFloats(FileChannel ch, float[] a, ByteBuffer chunk, CRC32C crc) throws IOException {
    for (int i = 0; i < a.length; ) {
      int n = Math.min(a.length - i, chunk.capacity() / 4);
      chunk.clear();
      chunk.asFloatBuffer().put(a, i, n);
      chunk.limit(4 * n);
      crc.update(chunk.duplicate());
      writeFully(ch, chunk);
      i += n;
    }
  }

  private static void readFloats(FileChannel ch, float[] a, CRC32C crc) throws IOException {
    ByteBuffer chunk = ByteBuffer.allocate(Math.min(CHUNK_BYTES, 4 * a.length)).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < a.length; ) {
      int n = Math.min(a.length - i, chunk.capacity() / 4);
      chunk.clear().limit(4 * n);
      readFully(ch, chunk);
      chunk.flip();
      crc.update(chunk.duplicate());
      chunk.asFloatBuffer().get(a, i, n);
      i += n;
    }
  }

  /** Reads {@code n} bytes at the channel's position (failing as torn when the file ends first). */
  private static ByteBuffer readBytes(FileChannel ch, int n, long size, CRC32C crc) throws IOException {
    if (ch.position() + n > size) {
      throw new IOException("truncated (torn write): " + size + " bytes, the header alone needs more");
    }
    ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, b);
    b.flip();
    if (crc != null) {
      crc.update(b.duplicate());
    }
    return b;
  }

  private static void readFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new IOException("truncated (torn write): the file ended early");
      }
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  /**
   * Forces the directory entry of the rename to disk. Linux allows fsync on a directory opened
   * read-only; a platform that refuses leaves the rename as durable as its file system makes it.
   */
  private void syncDirectory() {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException e) {
      LOG.log(System.Logger.Level.DEBUG, "cannot fsync directory " + dir + ": " + e);
    }
  }

  /** Deletes all but the newest {@code keep} checkpoints, and temporary files (one writer: all stale). */
  private void prune() throws IOException {
    List<Path> files = files();
    for (int i = keep; i < files.size(); i++) {
      Files.deleteIfExists(files.get(i));
    }
    deleteTemporaries();
  }

  private void deleteTemporaries() throws IOException {
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "ps-*" + SUFFIX + TMP_SUFFIX)) {
      for (Path p : ds) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static void moveAside(Path file) {
    try {
      Files.move(file, file.resolveSibling(file.getFileName() + CORRUPT_SUFFIX),
          StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      LOG.log(System.Logger.Level.WARNING, "cannot rename " + file + " aside: " + e);
    }
  }
}
