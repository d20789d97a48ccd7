package dev.batchrpc.ps.model;

import dev.batchrpc.proto.v1.TensorSpec;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The layout of a model the parameter server holds: its named float32 tensors, in the order their
 * elements follow one another in the flat parameter vector (the order of {@code ModelReply.parameters}
 * and of every gradient). A client maps its own tensors onto the flat vector by name (a PyTorch
 * user: {@code module.named_parameters()}); the server never needs more than the total count.
 *
 * <p>The built-in MLP's names are those of PyTorch's {@code nn.Sequential(Linear, ReLU, Linear, ...)}
 * ({@code 0.weight} [out, in], {@code 0.bias} [out], {@code 2.weight}, ...), so such a module loads
 * the server's model by name.
 */
public final class TensorLayout {

  /** The one element type: 4-byte IEEE float, little-endian (safetensors' name for it). */
  public static final String DTYPE = "F32";
  /** The longest tensor name, in UTF-8 bytes. */
  public static final int MAX_NAME_BYTES = 512;

  /** One named tensor of the layout. */
  public record Entry(String name, long[] shape) {

    /** Validates the name and shape (see {@link TensorLayout#of}). */
    public Entry {
      Objects.requireNonNull(name, "name");
      shape = shape.clone();
    }

    /** The element count: the product of the shape (1 for a scalar). */
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }

    @Override
    public long[] shape() {
      return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Entry e && e.name.equals(name) && Arrays.equals(e.shape, shape);
    }

    @Override
    public int hashCode() {
      return 31 * name.hashCode() + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
      return name + Arrays.toString(shape);
    }
  }

  private final List<Entry> entries;
  private final long parameterCount;
  private final String id;

  private TensorLayout(List<Entry> entries, long parameterCount) {
    this.entries = List.copyOf(entries);
    this.parameterCount = parameterCount;
    this.id = digest(this.entries);
  }

  /**
   * A layout of these tensors, in this order.
   *
   * @param entries the tensors: at least one; names non-empty, unique, at most
   *     {@value #MAX_NAME_BYTES} UTF-8 bytes, without control characters; dimensions >= 1
   * @param maxParameters the largest total element count accepted
   * @return the layout
   * @throws IllegalArgumentException naming the first problem
   */
  public static TensorLayout of(List<Entry> entries, long maxParameters) {
    if (entries.isEmpty()) {
      throw new IllegalArgumentException("a model layout needs at least one tensor");
    }
    Set<String> names = new HashSet<>();
    long total = 0;
    for (Entry e : entries) {
      checkName(e.name());
      if (!names.add(e.name())) {
        throw new IllegalArgumentException("tensor name '" + e.name() + "' appears twice in the layout");
      }
      for (long d : e.shape) {
        if (d < 1) {
          throw new IllegalArgumentException("tensor '" + e.name() + "' has shape " + Arrays.toString(e.shape)
              + ": every dimension must be >= 1");
        }
      }
      long n;
      try {
        n = e.elements();
        total = Math.addExact(total, n);
      } catch (ArithmeticException overflow) {
        total = Long.MAX_VALUE;
      }
      if (total > maxParameters) {
        throw new IllegalArgumentException("the layout holds more than " + maxParameters
            + " parameters (at tensor '" + e.name() + "' " + Arrays.toString(e.shape) + ")");
      }
    }
    return new TensorLayout(entries, total);
  }

  /**
   * The layout of the built-in MLP of these layer sizes: {@code nn.Sequential}'s names.
   *
   * @param sizes the layer sizes, e.g. 784, 256, 10
   * @return {@code 0.weight} [256, 784], {@code 0.bias} [256], {@code 2.weight} [10, 256], {@code 2.bias} [10]
   */
  public static TensorLayout mlp(int... sizes) {
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i + 1 < sizes.length; i++) {
      entries.add(new Entry(2 * i + ".weight", new long[] {sizes[i + 1], sizes[i]}));
      entries.add(new Entry(2 * i + ".bias", new long[] {sizes[i + 1]}));
    }
    return of(entries, Long.MAX_VALUE);
  }

  /**
   * The layout of a flat replay model: one tensor {@code params} [P].
   *
   * @param parameters P
   * @return the layout
   */
  public static TensorLayout flat(long parameters) {
    return of(List.of(new Entry("params", new long[] {parameters})), Long.MAX_VALUE);
  }

  /**
   * Reads a layout sent by a client.
   *
   * @param tensors the proto tensors
   * @param maxParameters the largest total element count accepted
   * @return the layout
   * @throws IllegalArgumentException naming the first problem (a dtype other than F32 included)
   */
  public static TensorLayout fromProto(List<TensorSpec> tensors, long maxParameters) {
    List<Entry> entries = new ArrayList<>(tensors.size());
    for (TensorSpec t : tensors) {
      if (!t.getDtype().isEmpty() && !t.getDtype().equals(DTYPE)) {
        throw new IllegalArgumentException("tensor '" + t.getName() + "' has dtype " + t.getDtype()
            + ": only " + DTYPE + " (float32) is supported");
      }
      entries.add(new Entry(t.getName(), t.getShapeList().stream().mapToLong(Long::longValue).toArray()));
    }
    return of(entries, maxParameters);
  }

  /** The layout as proto tensors, in order. */
  public List<TensorSpec> toProto() {
    List<TensorSpec> out = new ArrayList<>(entries.size());
    for (Entry e : entries) {
      TensorSpec.Builder b = TensorSpec.newBuilder().setName(e.name()).setDtype(DTYPE);
      for (long d : e.shape) {
        b.addShape(d);
      }
      out.add(b.build());
    }
    return out;
  }

  /**
   * How {@code other} differs from this layout, one phrase per difference, in this layout's order
   * then {@code other}'s: "conv.weight is [4, 1, 3, 3] here, [8, 1, 3, 3] there", "head.bias [3]
   * is missing there", "extra.weight [2] is not here", or the order when only it differs. At most
   * {@code max} phrases, then "and N more".
   *
   * @param other the other layout
   * @param here what to call this one ("on the server")
   * @param there what to call the other ("in the request")
   * @param max the most phrases
   * @return the phrases, empty when the layouts are equal
   */
  public List<String> differences(TensorLayout other, String here, String there, int max) {
    List<String> out = new ArrayList<>();
    java.util.Map<String, Entry> theirs = new java.util.LinkedHashMap<>();
    for (Entry e : other.entries) {
      theirs.put(e.name(), e);
    }
    Set<String> mine = new HashSet<>();
    for (Entry e : entries) {
      mine.add(e.name());
      Entry t = theirs.get(e.name());
      if (t == null) {
        out.add(e + " " + here + " is not " + there);
      } else if (!Arrays.equals(t.shape, e.shape)) {
        out.add(e.name() + " is " + Arrays.toString(e.shape) + " " + here + ", " + Arrays.toString(t.shape) + " "
            + there);
      }
    }
    for (Entry t : other.entries) {
      if (!mine.contains(t.name())) {
        out.add(t + " " + there + " is not " + here);
      }
    }
    if (out.isEmpty() && !equals(other)) {
      out.add("the same tensors in another order (" + here + ": " + names(entries) + "; " + there + ": "
          + names(other.entries) + ")");
    }
    if (out.size() > max) {
      int more = out.size() - max;
      out = new ArrayList<>(out.subList(0, max));
      out.add("and " + more + " more");
    }
    return out;
  }

  private static List<String> names(List<Entry> entries) {
    return entries.stream().map(Entry::name).toList();
  }

  /** The tensor holding element {@code index} of the flat vector, and the index within it: "conv.bias[3]". */
  public String elementName(long index) {
    long at = 0;
    for (Entry e : entries) {
      long n = e.elements();
      if (index < at + n) {
        return e.name() + "[" + (index - at) + "]";
      }
      at += n;
    }
    return "[" + index + "]";
  }

  /** The tensors, in order. */
  public List<Entry> entries() {
    return entries;
  }

  /** The total element count P. */
  public long parameterCount() {
    return parameterCount;
  }

  /**
   * A digest of the names, shapes and dtype, in order: equal layouts have equal ids. 16 hex digits
   * (the first 8 bytes of a SHA-256).
   */
  public String id() {
    return id;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorLayout l && l.entries.equals(entries);
  }

  @Override
  public int hashCode() {
    return entries.hashCode();
  }

  @Override
  public String toString() {
    return entries.size() + " tensors, " + parameterCount + " parameters (layout " + id + ")";
  }

  private static void checkName(String name) {
    if (name.isEmpty()) {
      throw new IllegalArgumentException("a tensor name is empty");
    }
    if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
      throw new IllegalArgumentException("tensor name '" + name.substring(0, 40) + "...' is over "
          + MAX_NAME_BYTES + " bytes");
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (Character.isISOControl(c) || Character.isSurrogate(c) && !validSurrogate(name, i)) {
        throw new IllegalArgumentException("tensor name '" + name.replaceAll("\\p{Cntrl}", "?")
            + "' holds a control character or an unpaired surrogate at index " + i);
      }
      if (Character.isHighSurrogate(c)) {
        i++;
      }
    }
  }

  private static boolean validSurrogate(String s, int i) {
    return Character.isHighSurrogate(s.charAt(i)) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
  }

  private static String digest(List<Entry> entries) {
    StringBuilder canonical = new StringBuilder(DTYPE);
    for (Entry e : entries) {
      // names hold no control characters, so tab and newline separate unambiguously
      canonical.append('\n').append(e.name()).append('\t');
      for (int i = 0; i < e.shape.length; i++) {
        canonical.append(i == 0 ? "" : ",").append(e.shape[i]);
      }
    }
    try {
      byte[] sha = MessageDigest.getInstance("SHA-256").digest(canonical.toString().getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }
}
