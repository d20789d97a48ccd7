package dev.batchrpc.ps.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes model weights in the safetensors format, the one Hugging Face and PyTorch users
 * exchange weights in: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * ({@code {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}}, padded with spaces), then the tensors' raw little-endian bytes.
 *
 * <p>Reading is strict, and all-or-nothing (the caller gets a whole model or an exception naming
 * the first problem): a header over {@link #MAX_HEADER_BYTES} or past the end of the file, bytes
 * that are not UTF-8, JSON that is not an object or names a tensor twice, a dtype other than
 * {@code F32}, a shape whose bytes differ from its offsets, offsets that overlap, leave a gap,
 * point past the end of the file (a truncated body) or leave bytes unread after the last tensor.
 * The model's layout follows the tensors' order in the data (as safetensors writers lay them out).
 */
public final class Safetensors {

  /** The largest header accepted (the reference implementation's cap: 100 MB). */
  public static final long MAX_HEADER_BYTES = 100_000_000L;
  private static final String METADATA = "__metadata__";
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private Safetensors() {
  }

  /**
   * A model read from a file.
   *
   * @param layout its tensors, in data order
   * @param values the flat parameters, in layout order
   * @param metadata the header's {@code __metadata__} (empty if none)
   */
  public record Loaded(TensorLayout layout, float[] values, Map<String, String> metadata) {
  }

  private record Slot(String name, long[] shape, long begin, long end) {
  }

  /**
   * Reads a safetensors file whole.
   *
   * @param file the file
   * @param maxParameters the largest model accepted
   * @return the model
   * @throws IllegalArgumentException naming the file and the first problem
   * @throws IOException when the file cannot be read
   */
  public static Loaded read(Path file, long maxParameters) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw bad(file, "the file has " + size + " bytes, fewer than the 8 of the header length");
      }
      ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lengthBytes, 0);
      long n = lengthBytes.flip().getLong();
      if (n < 2 || n > MAX_HEADER_BYTES) {
        throw bad(file, "the header length is " + Long.toUnsignedString(n) + " bytes; it must be in [2, "
            + MAX_HEADER_BYTES + "]");
      }
      if (8 + n > size) {
        throw bad(file, "the header of " + n + " bytes runs past the end of the file (" + size + " bytes)");
      }
      ByteBuffer headerBytes = ByteBuffer.allocate((int) n);
      readFully(ch, headerBytes, 8);
      String header;
      try {
        header = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(headerBytes.flip()).toString();
      } catch (CharacterCodingException e) {
        throw bad(file, "the header is not valid UTF-8");
      }
      long dataBytes = size - 8 - n;
      List<Slot> slots = new ArrayList<>();
      Map<String, String> metadata = parseHeader(file, header, slots);
      TensorLayout layout = layoutOf(file, slots, dataBytes, maxParameters);
      float[] values = new float[Math.toIntExact(layout.parameterCount())];
      ByteBuffer data = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, data, 8 + n);
      data.flip().asFloatBuffer().get(values);
      return new Loaded(layout, values, metadata);
    }
  }

  /**
   * Writes a model as a safetensors file, atomically (a temporary file in the same directory,
   * renamed over {@code file}).
   *
   * @param file the file to write
   * @param layout the tensors
   * @param values the flat parameters, {@code layout.parameterCount()} of them from the buffer's position
   * @param metadata string pairs for {@code __metadata__} (may be empty)
   * @throws IOException when the file cannot be written
   */
  public static void write(Path file, TensorLayout layout, FloatBuffer values, Map<String, String> metadata)
      throws IOException {
    if (values.remaining() != layout.parameterCount()) {
      throw new IllegalArgumentException("the layout holds " + layout.parameterCount() + " parameters, "
          + values.remaining() + " values were given");
    }
    ObjectNode header = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject(METADATA);
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (TensorLayout.Entry e : layout.entries()) {
      ObjectNode t = header.putObject(e.name());
      t.put("dtype", TensorLayout.DTYPE);
      ArrayNode shape = t.putArray("shape");
      for (long d : e.shape()) {
        shape.add(d);
      }
      long end = offset + 4 * e.elements();
      t.putArray("data_offsets").add(offset).add(end);
      offset = end;
    }
    byte[] json = JSON.writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        writeFully(ch, head.flip());
        ByteBuffer chunk = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        FloatBuffer src = values.duplicate();
        while (src.hasRemaining()) {
          chunk.clear();
          FloatBuffer f = chunk.asFloatBuffer();
          int count = Math.min(f.remaining(), src.remaining());
          FloatBuffer part = src.slice(src.position(), count);
          f.put(part);
          src.position(src.position() + count);
          chunk.limit(4 * count);
          writeFully(ch, chunk);
        }
        ch.force(true);
      }
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static Map<String, String> parseHeader(Path file, String header, List<Slot> slots) {
    JsonNode root;
    try {
      root = JSON.readTree(header);
    } catch (JsonProcessingException e) {
      throw bad(file, "the header is not valid JSON or names a key twice: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw bad(file, "the header is not a JSON object");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      String name = field.getKey();
      JsonNode v = field.getValue();
      if (name.equals(METADATA)) {
        if (!v.isObject()) {
          throw bad(file, METADATA + " is not an object");
        }
        v.fields().forEachRemaining(m -> {
          if (!m.getValue().isTextual()) {
            throw bad(file, METADATA + " value of '" + m.getKey() + "' is not a string");
          }
          metadata.put(m.getKey(), m.getValue().asText());
        });
        continue;
      }
      if (!v.isObject()) {
        throw bad(file, "tensor '" + name + "' is not described by an object");
      }
      String dtype = v.path("dtype").asText("");
      if (!dtype.equals(TensorLayout.DTYPE)) {
        throw bad(file, "tensor '" + name + "' has dtype " + (dtype.isEmpty() ? "(none)" : dtype) + ": only "
            + TensorLayout.DTYPE + " (float32) is supported; convert with tensor.float()");
      }
      long[] shape = longs(file, name, "shape", v.path("shape"), -1);
      long[] offsets = longs(file, name, "data_offsets", v.path("data_offsets"), 2);
      if (offsets[0] > offsets[1]) {
        throw bad(file, "tensor '" + name + "' has data_offsets [" + offsets[0] + ", " + offsets[1]
            + "]: begin after end");
      }
      slots.add(new Slot(name, shape, offsets[0], offsets[1]));
    }
    if (slots.isEmpty()) {
      throw bad(file, "the file holds no tensor");
    }
    return metadata;
  }

  private static TensorLayout layoutOf(Path file, List<Slot> slots, long dataBytes, long maxParameters) {
    slots.sort(Comparator.comparingLong(Slot::begin).thenComparingLong(Slot::end));
    List<TensorLayout.Entry> entries = new ArrayList<>(slots.size());
    long limit = Math.min(maxParameters, Integer.MAX_VALUE / 4);
    long at = 0;
    long total = 0;
    Slot previous = null;
    for (Slot s : slots) {
      if (s.begin < at) {
        throw bad(file, "tensors '" + previous.name + "' and '" + s.name + "' overlap (bytes " + s.begin
            + " to " + Math.min(at, s.end) + ")");
      }
      if (s.begin > at) {
        throw bad(file, "a gap of " + (s.begin - at) + " bytes before tensor '" + s.name + "'");
      }
      TensorLayout.Entry entry = new TensorLayout.Entry(s.name, s.shape);
      long elements;
      try {
        elements = entry.elements();
      } catch (ArithmeticException overflow) {
        throw bad(file, "tensor '" + s.name + "' has more elements than a long holds");
      }
      if (elements > Long.MAX_VALUE / 4 || s.end - s.begin != 4 * elements) {
        throw bad(file, "tensor '" + s.name + "' has shape " + java.util.Arrays.toString(s.shape) + " ("
            + elements + " float32 = " + 4 * elements + " bytes) but data_offsets span " + (s.end - s.begin) + " bytes");
      }
      total += elements;
      if (total > limit) {
        throw bad(file, "the model holds more than " + limit + " parameters (at tensor '" + s.name + "')");
      }
      if (s.end > dataBytes) {
        throw bad(file, "tensor '" + s.name + "' ends at byte " + s.end + " of the data, but the file holds only "
            + dataBytes + " bytes of data: it is truncated");
      }
      entries.add(entry);
      at = s.end;
      previous = s;
    }
    if (at != dataBytes) {
      throw bad(file, (dataBytes - at) + " bytes of data follow the last tensor");
    }
    try {
      return TensorLayout.of(entries, limit);
    } catch (IllegalArgumentException e) {
      throw bad(file, e.getMessage());
    }
  }

  private static long[] longs(Path file, String tensor, String key, JsonNode node, int length) {
    if (!node.isArray() || length >= 0 && node.size() != length) {
      throw bad(file, "tensor '" + tensor + "' has no valid " + key + (length >= 0 ? " (" + length + " integers)" : ""));
    }
    long[] out = new long[node.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode x = node.get(i);
      if (!x.canConvertToLong() || !x.isIntegralNumber() || x.asLong() < 0) {
        throw bad(file, "tensor '" + tensor + "' has " + key + " " + node + ": not non-negative integers");
      }
      out[i] = x.asLong();
    }
    return out;
  }

  private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
    long at = position;
    while (dst.hasRemaining()) {
      int n = ch.read(dst, at);
      if (n < 0) {
        throw new IOException("unexpected end of file at byte " + at);
      }
      at += n;
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer src) throws IOException {
    while (src.hasRemaining()) {
      ch.write(src);
    }
  }

  private static IllegalArgumentException bad(Path file, String problem) {
    return new IllegalArgumentException("safetensors file " + file + ": " + problem);
  }
}
