package dev.batchrpc.ps.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

  @TempDir
  Path dir;

  private static final TensorLayout LAYOUT = TensorLayout.of(List.of(
      new TensorLayout.Entry("conv.weight", new long[] {2, 1, 3, 3}),
      new TensorLayout.Entry("conv.bias", new long[] {2}),
      new TensorLayout.Entry("scale", new long[] {})), Long.MAX_VALUE);

  private static float[] values(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (i - n / 2) * 0.37f + (i % 3 == 0 ? Float.MIN_VALUE : 0);
    }
    return v;
  }

  /** A file of [N][header][data], the header written as given. */
  private Path file(String name, byte[] header, byte[] data) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(header.length).put(header).put(data);
    Path f = dir.resolve(name);
    Files.write(f, b.array());
    return f;
  }

  private Path file(String name, String header, int dataBytes) throws IOException {
    return file(name, header.getBytes(StandardCharsets.UTF_8), new byte[dataBytes]);
  }

  private static String tensor(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
        + end + "]}";
  }

  @Test
  void writtenFilesReadBackWithTheirLayoutValuesAndMetadata() throws IOException {
    float[] v = values((int) LAYOUT.parameterCount());
    Path f = dir.resolve("model.safetensors");
    Safetensors.write(f, LAYOUT, FloatBuffer.wrap(v), Map.of("format", "pt", "model_version", "12"));

    Safetensors.Loaded back = Safetensors.read(f, Long.MAX_VALUE);
    assertThat(back.layout()).isEqualTo(LAYOUT);
    assertThat(back.layout().id()).isEqualTo(LAYOUT.id());
    assertThat(java.util.Arrays.mismatch(back.values(), v)).isEqualTo(-1);
    assertThat(back.metadata()).containsExactlyInAnyOrderEntriesOf(Map.of("format", "pt", "model_version", "12"));
    // the format's own layout: an 8-aligned header (padded with spaces), then 4 bytes per value
    ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
    long n = raw.getLong();
    assertThat(n % 8).isZero();
    assertThat(raw.capacity()).isEqualTo(8 + n + 4 * v.length);
    assertThat(raw.getFloat((int) (8 + n + 4 * 18))).isEqualTo(v[18]);
    // no temporary file left beside it
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly("model.safetensors");
    }
  }

  @Test
  void theLayoutFollowsTheDataOrderNotTheHeaderOrder() throws IOException {
    String header = "{" + tensor("b", "F32", "[2]", 8, 16) + "," + tensor("a", "F32", "[2]", 0, 8) + "}";
    ByteBuffer data = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(2).putFloat(3)
        .putFloat(4);
    Safetensors.Loaded l = Safetensors.read(file("order.safetensors", header.getBytes(StandardCharsets.UTF_8),
        data.array()), Long.MAX_VALUE);
    assertThat(l.layout().entries()).extracting(TensorLayout.Entry::name).containsExactly("a", "b");
    assertThat(l.values()).containsExactly(1, 2, 3, 4);
  }

  @Test
  void everyMalformedFileIsRefusedNamingItsProblem() throws IOException {
    String good = tensor("w", "F32", "[2,2]", 0, 16);
    Map<String, Path> bad = new java.util.LinkedHashMap<>();
    Map<String, String> says = new java.util.LinkedHashMap<>();
    bad.put("truncated body", file("t1", "{" + good + "}", 12));
    says.put("truncated body", "truncated");
    bad.put("overlapping offsets", file("t2", "{" + good + "," + tensor("v", "F32", "[2]", 8, 16) + "}", 16));
    says.put("overlapping offsets", "overlap");
    bad.put("offsets out of range", file("t3", "{" + tensor("w", "F32", "[2,2]", 1000, 1016) + "}", 16));
    says.put("offsets out of range", "gap of 1000 bytes");
    bad.put("end past the data", file("t3b", "{" + good + "," + tensor("v", "F32", "[1]", 16, 20) + "}", 16));
    says.put("end past the data", "truncated");
    bad.put("bytes after the last tensor", file("t4", "{" + good + "}", 20));
    says.put("bytes after the last tensor", "4 bytes of data follow the last tensor");
    bad.put("dtype F16", file("t5", "{" + tensor("w", "F16", "[2,2]", 0, 8) + "}", 8));
    says.put("dtype F16", "dtype F16");
    bad.put("shape not matching offsets", file("t6", "{" + tensor("w", "F32", "[3,2]", 0, 16) + "}", 16));
    says.put("shape not matching offsets", "but data_offsets span 16 bytes");
    bad.put("duplicate names", file("t7", "{" + good + "," + good + "}", 16));
    says.put("duplicate names", "names a key twice");
    bad.put("not UTF-8", file("t8", new byte[] {'{', '"', (byte) 0xFF, '"', ':', '1', '}'}, new byte[0]));
    says.put("not UTF-8", "not valid UTF-8");
    bad.put("not JSON", file("t9", "{\"w\": [", 0));
    says.put("not JSON", "not valid JSON");
    bad.put("not an object", file("t10", "[1,2]", 0));
    says.put("not an object", "not a JSON object");
    bad.put("no tensor", file("t11", "{\"__metadata__\":{\"a\":\"b\"}}", 0));
    says.put("no tensor", "holds no tensor");
    bad.put("a zero dimension", file("t12", "{" + tensor("w", "F32", "[0,2]", 0, 0) + "}", 0));
    says.put("a zero dimension", "every dimension must be >= 1");
    bad.put("negative offsets", file("t13", "{" + tensor("w", "F32", "[1]", -4, 0) + "}", 4));
    says.put("negative offsets", "not non-negative integers");
    bad.put("control character in a name", file("t14", "{" + tensor("a\\u0001b", "F32", "[1]", 0, 4) + "}", 4));
    says.put("control character in a name", "control character");
    Path huge = dir.resolve("t15");
    Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Safetensors.MAX_HEADER_BYTES + 1)
        .array());
    bad.put("header over the cap", huge);
    says.put("header over the cap", "the header length is " + (Safetensors.MAX_HEADER_BYTES + 1));
    Path past = dir.resolve("t16");
    Files.write(past, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(4096).array());
    bad.put("header past the end", past);
    says.put("header past the end", "runs past the end of the file");
    bad.put("empty file", file("t17", new byte[0], new byte[0]).resolveSibling("t17"));
    Files.write(dir.resolve("t17"), new byte[3]);
    says.put("empty file", "fewer than the 8 of the header length");

    for (Map.Entry<String, Path> e : bad.entrySet()) {
      assertThatThrownBy(() -> Safetensors.read(e.getValue(), Long.MAX_VALUE)).as(e.getKey())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("safetensors file " + e.getValue() + ": ")
          .hasMessageContaining(says.get(e.getKey()));
    }
  }

  @Test
  void aModelOverTheLimitIsRefusedBeforeItsDataIsRead() throws IOException {
    Path f = file("big", "{" + tensor("w", "F32", "[1000,1000]", 0, 4_000_000) + "}", 0);
    assertThatThrownBy(() -> Safetensors.read(f, 999_999)).hasMessageContaining("more than 999999 parameters");
  }
}
