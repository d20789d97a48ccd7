package dev.batchrpc.runtime.data;

import com.google.protobuf.ByteString;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.ShmAttach;
import dev.batchrpc.runtime.RpcException;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.regex.Pattern;

/**
 * A data-channel connection's shared memory, for a client and server on the same host: tensor
 * payloads are written into a mapped file in {@code /dev/shm} instead of through the socket, and
 * the frame (still on the socket) names the slot. PyTorch's TensorPipe does the same between
 * processes of one host; across hosts, or where anything here fails, the connection keeps its
 * payloads in its frames.
 *
 * <p><b>Who does what.</b> The client creates the segment ({@link #create}) with {@code slots}
 * request slots and as many reply slots, sends its path and a random nonce in a
 * {@code data.attach-shm} call ({@link #attachRequest}), and unlinks the file once that call is
 * answered: the mappings stay, nothing is left in {@code /dev/shm} (a process killed in between
 * leaves its file, removed by the next process that creates one: {@link #sweepStale}). The
 * server maps it only if it is a regular file of this user in the same directory, named as this
 * class names them, of exactly the size its header announces, with the nonce in it
 * ({@link #attach}): a peer on another host cannot know a local file's nonce, and a peer can
 * only name a segment it was told about.
 *
 * <p><b>Slots.</b> A call that takes slot {@code i} has its request payload in request slot
 * {@code i}, and its reply payload goes to reply slot {@code i}. The client frees the slot when
 * the reply arrives (not when the call times out: the server may still write it), so a slot is
 * never written by both at once in a well-behaved pair.
 *
 * <p><b>Torn or foreign bytes are refused, never used.</b> Each slot starts with the call id of
 * the payload in it (a seqlock: -1 while being written). A reader checks the id before and after
 * copying the payload out into its own buffer, and refuses the payload ({@code UNAVAILABLE}, the
 * call fails, the connection goes on) if it is not that call's or changed meanwhile; it then
 * works only on its copy, so a peer that writes into a slot late cannot change what was checked.
 *
 * <p>Thread-safety: writes and reads of different slots may run on any threads; the mapping's
 * position is never used (absolute accesses and duplicates only).
 */
public final class ShmSegment {

  /** The method name of the attach call. */
  public static final String ATTACH_METHOD = "data.attach-shm";
  /**
   * System property: the largest payload per slot that takes shared memory (bytes; 0 turns shared
   * memory off). A segment holds 2 x slots of this size, in RAM ({@code /dev/shm} is tmpfs).
   */
  public static final String MAX_SLOT_BYTES_PROPERTY = "batchrpc.data.shm-max-bytes";
  /** Default of {@link #MAX_SLOT_BYTES_PROPERTY}: 16 MiB, a 4M-parameter model. */
  public static final long DEFAULT_MAX_SLOT_BYTES = 16L << 20;
  /** The most slots a segment may have. */
  public static final int MAX_SLOTS = 8;

  private static final long MAGIC = 0x314D48534350524CL; // "LRPCSHM1" little-endian, any fixed value
  private static final int FILE_HEADER = 4096;
  private static final int SLOT_HEADER = 64;
  private static final int NONCE_BYTES = 16;
  private static final long WRITING = -1L;
  private static final String PREFIX = "batchrpc-data-";
  private static final Pattern NAME = Pattern.compile("batchrpc-data-[0-9]+-[0-9a-f]{32}");
  private static final VarHandle LONG = MethodHandles.byteBufferViewVarHandle(long[].class,
      ByteOrder.nativeOrder());
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final System.Logger LOG = System.getLogger(ShmSegment.class.getName());

  /** Which half of the segment. */
  public enum Region { REQUEST, REPLY }

  private final Path path;
  private final MappedByteBuffer map;
  private final byte[] nonce;
  private final int slots;
  private final long slotBytes;
  private final long stride;

  private ShmSegment(Path path, MappedByteBuffer map, byte[] nonce, int slots, long slotBytes) {
    this.path = path;
    this.map = map;
    this.nonce = nonce;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.stride = stride(slotBytes);
  }

  private static long stride(long slotBytes) {
    return SLOT_HEADER + (slotBytes + 63) / 64 * 64;
  }

  private static long fileSize(int slots, long slotBytes) {
    return FILE_HEADER + 2L * slots * stride(slotBytes);
  }

  /** Where segments live: {@code /dev/shm} when it is a writable directory, else null (no shared memory). */
  public static Path directory() {
    Path dir = Path.of("/dev/shm");
    return Files.isDirectory(dir) && Files.isWritable(dir) ? dir : null;
  }

  /** The configured largest payload per slot ({@link #MAX_SLOT_BYTES_PROPERTY}); 0 when off. */
  public static long maxSlotBytes() {
    String v = System.getProperty(MAX_SLOT_BYTES_PROPERTY);
    if (v == null || v.isBlank()) {
      return DEFAULT_MAX_SLOT_BYTES;
    }
    try {
      return Math.max(0, Long.parseLong(v.trim()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("-D" + MAX_SLOT_BYTES_PROPERTY + " must be a number of bytes, got '" + v
          + "'");
    }
  }

  /**
   * Creates a segment for a client (the file stays until {@link #unlink}).
   *
   * @throws IOException if there is no shared-memory directory or the file cannot be made
   */
  public static ShmSegment create(int slots, long slotBytes) throws IOException {
    if (slots < 1 || slots > MAX_SLOTS) {
      throw new IllegalArgumentException("slots must be 1.." + MAX_SLOTS + ", got " + slots);
    }
    long size = fileSize(slots, slotBytes);
    if (slotBytes < 1 || size > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("slot size " + slotBytes + " bytes is out of range");
    }
    Path dir = directory();
    if (dir == null) {
      throw new IOException("no shared-memory directory (/dev/shm)");
    }
    byte[] nonce = new byte[NONCE_BYTES];
    RANDOM.nextBytes(nonce);
    Path path = LocalSockets.freshPath(dir, PREFIX, NAME, 16, "");
    Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
      map.order(ByteOrder.nativeOrder());
      map.putLong(8, slotBytes);
      map.putInt(16, slots);
      map.put(24, nonce);
      LONG.setVolatile(map, 0, MAGIC);
      return new ShmSegment(path, map, nonce, slots, slotBytes);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(path);
      throw e;
    }
  }

  /** The attach call's body for this (client-created) segment. */
  public ShmAttach attachRequest() {
    return ShmAttach.newBuilder().setPath(path.toString()).setNonce(ByteString.copyFrom(nonce))
        .setSlots(slots).setSlotBytes(slotBytes).build();
  }

  /**
   * Maps a client's segment on the server side, after checking that it is one: in the shared-memory
   * directory, named as {@link #create} names them, a regular file of this user (no link), of the
   * size its slots give, with the nonce in it.
   *
   * @param maxSlotBytes the most bytes per slot this server accepts (its largest payload)
   * @throws RpcException {@code BAD_REQUEST} for a request that names no such segment
   */
  public static ShmSegment attach(ShmAttach request, long maxSlotBytes) {
    Path dir = directory();
    if (dir == null) {
      throw refuse("this host has no shared-memory directory");
    }
    if (request.getSlots() < 1 || request.getSlots() > MAX_SLOTS) {
      throw refuse(request.getSlots() + " slots (1.." + MAX_SLOTS + ")");
    }
    long slotBytes = request.getSlotBytes();
    if (slotBytes < 1 || slotBytes > maxSlotBytes || fileSize(request.getSlots(), slotBytes) > Integer.MAX_VALUE) {
      throw refuse("slots of " + slotBytes + " bytes (this server takes at most " + maxSlotBytes + ")");
    }
    Path path;
    try {
      path = Path.of(request.getPath());
    } catch (RuntimeException e) {
      throw refuse("not a path");
    }
    if (!dir.equals(path.getParent()) || path.getFileName() == null
        || !NAME.matcher(path.getFileName().toString()).matches()) {
      throw refuse("not a batch-rpc segment in " + dir);
    }
    long size = fileSize(request.getSlots(), slotBytes);
    try {
      if (!Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS) || !ownedByThisUser(path)
          || Files.size(path) != size) {
        throw refuse("no such segment of this user and size");
      }
      try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
          LinkOption.NOFOLLOW_LINKS)) {
        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
        map.order(ByteOrder.nativeOrder());
        byte[] found = new byte[NONCE_BYTES];
        map.get(24, found);
        if ((long) LONG.getVolatile(map, 0) != MAGIC || map.getLong(8) != slotBytes
            || map.getInt(16) != request.getSlots() || !Arrays.equals(found, request.getNonce().toByteArray())) {
          throw refuse("the segment's header does not match (another host's file of the same name?)");
        }
        return new ShmSegment(path, map, found, request.getSlots(), slotBytes);
      }
    } catch (IOException e) {
      throw refuse("cannot open it: " + e.getMessage());
    }
  }

  /** Whether this process's user owns {@code path} (by uid: a container's user may have no name). */
  private static boolean ownedByThisUser(Path path) throws IOException {
    try {
      Object owner = Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      Object self = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      return owner.equals(self);
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      return Files.getOwner(path, LinkOption.NOFOLLOW_LINKS).getName().equals(System.getProperty("user.name"));
    }
  }

  private static RpcException refuse(String why) {
    return new RpcException(FailureCode.BAD_REQUEST, "shared memory not attached: " + why);
  }

  /** Removes the file (the mappings stay valid); idempotent. */
  public void unlink() {
    try {
      Files.deleteIfExists(path);
    } catch (IOException e) {
      LOG.log(System.Logger.Level.DEBUG, "could not remove " + path + ": " + e);
    }
  }

  /** Request (and reply) slots. */
  public int slots() {
    return slots;
  }

  /** The largest payload of one slot. */
  public long slotBytes() {
    return slotBytes;
  }

  private int base(Region region, int slot) {
    if (slot < 0 || slot >= slots) {
      throw new FrameException(FailureCode.BAD_REQUEST, "shared-memory slot " + (slot + 1) + " does not exist (1.."
          + slots + ")", 0, false);
    }
    return (int) (FILE_HEADER + ((region == Region.REQUEST ? 0L : slots) + slot) * stride);
  }

  /**
   * Writes {@code src}'s remaining bytes (not moving its position) into a slot, stamped with
   * {@code callId} (not -1, the mark of a slot being written).
   */
  public void write(Region region, int slot, long callId, ByteBuffer src) {
    if (callId == WRITING) {
      throw new IllegalArgumentException("call id -1 marks a slot being written");
    }
    int length = src.remaining();
    if (length > slotBytes) {
      throw new IllegalArgumentException(length + " bytes do not fit a slot of " + slotBytes);
    }
    int base = base(region, slot);
    LONG.setVolatile(map, base, WRITING);
    map.put(base + SLOT_HEADER, src, src.position(), length);
    LONG.setVolatile(map, base + 8, (long) length);
    LONG.setVolatile(map, base, callId);
  }

  /**
   * Copies call {@code callId}'s payload of {@code length} bytes out of a slot into {@code dst}
   * (from its position, which advances).
   *
   * @throws FrameException (not fatal, for {@code callId}) if the slot does not hold that call's
   *     payload of that length, or changed while it was copied; {@code dst}'s content is then not
   *     to be used
   */
  public void read(Region region, int slot, long callId, long length, ByteBuffer dst) {
    int base;
    try {
      base = base(region, slot);
    } catch (FrameException e) {
      throw new FrameException(e.code(), e.getMessage(), callId, false);
    }
    if (length > slotBytes || dst.remaining() < length) {
      throw new FrameException(FailureCode.BAD_REQUEST, "a shared-memory payload of " + length
          + " bytes does not fit its slot of " + slotBytes, callId, false);
    }
    long before = (long) LONG.getVolatile(map, base);
    long stamped = (long) LONG.getVolatile(map, base + 8);
    if (before != callId || callId == WRITING || stamped != length) {
      throw new FrameException(FailureCode.UNAVAILABLE, "shared-memory slot " + (slot + 1) + " does not hold call "
          + callId + "'s " + length + " bytes (it holds call " + before + "'s " + stamped + "); not taken",
          callId, false);
    }
    dst.put(dst.position(), map, base + SLOT_HEADER, (int) length);
    VarHandle.acquireFence();
    long after = (long) LONG.getVolatile(map, base);
    if (after != callId) {
      throw new FrameException(FailureCode.UNAVAILABLE, "shared-memory slot " + (slot + 1) + " was overwritten while "
          + "call " + callId + "'s payload was read; not taken", callId, false);
    }
    dst.position(dst.position() + (int) length);
  }

  /** The call whose payload a slot holds now, -1 while one is being written (also: a mailbox's new request). */
  long callIn(Region region, int slot) {
    return (long) LONG.getVolatile(map, base(region, slot));
  }

  /** The length stamped in a slot (for the call {@link #callIn} names; read it again after a read). */
  long lengthIn(Region region, int slot) {
    return (long) LONG.getVolatile(map, base(region, slot) + 8);
  }

  /** A flag word in the file's header, for a {@link StepMailbox}: {@code index} 0 or 1. */
  private static int flagOffset(int index) {
    if (index < 0 || index > 1) {
      throw new IllegalArgumentException("flag " + index);
    }
    return 1024 + 1024 * index; // bytes 0-39 hold the header; each flag on its own cache line
  }

  /** Sets or clears a flag (sequentially consistent: a later read of a slot's stamp is not reordered before it). */
  void flag(int index, boolean set) {
    LONG.setVolatile(map, flagOffset(index), set ? 1L : 0L);
  }

  /** Clears a set flag; true if it was set (only one of several callers that race gets true). */
  boolean takeFlag(int index) {
    int at = flagOffset(index);
    return (long) LONG.getVolatile(map, at) == 1L && LONG.compareAndSet(map, at, 1L, 0L);
  }

  /**
   * Removes segment files of processes that no longer run (a process killed between creating a
   * segment and its peer's attach leaves one).
   */
  static void sweepStale(Path dir) {
    LocalSockets.sweepStale(dir, PREFIX, NAME);
  }

  /** The file's path (for tests and logs). */
  public Path path() {
    return path;
  }
}
