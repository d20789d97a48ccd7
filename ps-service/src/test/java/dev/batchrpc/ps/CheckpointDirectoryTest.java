package dev.batchrpc.ps;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.cpu.CpuBackend;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The checkpoint format, its atomic writes, and restoring the newest intact one. */
@Timeout(30)
class CheckpointDirectoryTest {

  private static final ModelSpec MODEL = ModelSpec.mlp(6, 5, 3);
  private static final int P = MODEL.parameterCount();

  @TempDir
  Path dir;

  private static ParameterStore store() {
    return new ParameterStore(new CpuBackend(), MODEL.initialParameters(7), 2, 0.05f, 0.9f);
  }

  /** Two trainers' gradients for round {@code r}: deterministic, different per round. */
  private static FloatBuffer[] round(int r) {
    FloatBuffer[] rows = new FloatBuffer[2];
    for (int t = 0; t < 2; t++) {
      float[] g = new float[P];
      for (int i = 0; i < P; i++) {
        g[i] = (float) Math.sin(0.37 * i + 1.3 * t + 0.71 * r) * 0.5f;
      }
      rows[t] = FloatBuffer.wrap(g);
    }
    return rows;
  }

  private static void steps(ParameterStore s, int from, int to) {
    for (int r = from; r < to; r++) {
      s.step(round(r));
    }
  }

  private static void assertSameState(ParameterStore.State actual, ParameterStore.State expected) {
    assertThat(actual.version()).isEqualTo(expected.version());
    assertThat(actual.stepped()).isEqualTo(expected.stepped());
    // bit for bit, not within a tolerance
    assertThat(bits(actual.parameters())).containsExactly(bits(expected.parameters()));
    assertThat(bits(actual.momentumBuffer())).containsExactly(bits(expected.momentumBuffer()));
  }

  private static int[] bits(float[] a) {
    int[] out = new int[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = Float.floatToRawIntBits(a[i]);
    }
    return out;
  }

  /** Checkpoints of versions {@code older} and {@code newer} of one run; the older one's state. */
  private ParameterStore.State twoCheckpoints(int older, int newer) throws IOException {
    CheckpointDirectory checkpoints = CheckpointDirectory.open(dir, MODEL, 3);
    try (ParameterStore s = store()) {
      steps(s, 0, older);
      checkpoints.write(CheckpointFile.of(MODEL, s));
      ParameterStore.State state = s.export();
      steps(s, older, newer);
      checkpoints.write(CheckpointFile.of(MODEL, s));
      return state;
    }
  }

  private List<String> names() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void aCheckpointReadsBackExactlyAndRewritesToTheSameBytes(@TempDir Path other) throws IOException {
    try (ParameterStore s = store()) {
      steps(s, 0, 4);
      CheckpointFile c = CheckpointFile.of(MODEL, s);
      Path file = CheckpointDirectory.open(dir, MODEL, 3).write(c);
      assertThat(file.getFileName().toString()).isEqualTo("ps-000000000004.ckpt");
      // the layout: 4 bytes of count, per tensor 4 + name + 4 + 8 per dimension
      long layoutBytes = 4 + (4 + 8 + 4 + 16) + (4 + 6 + 4 + 8) + (4 + 8 + 4 + 16) + (4 + 6 + 4 + 8);
      assertThat(Files.size(file)).as("fixed length: header + layout + 2P floats + CRC")
          .isEqualTo(16 + CheckpointDirectory.identity(MODEL).length() + layoutBytes + 21 + 8L * P + 4);

      CheckpointFile back = CheckpointDirectory.read(file);
      assertThat(back.model()).isEqualTo("mlp 6,5,3");
      assertThat(back.layout()).isEqualTo(MODEL.layout());
      assertThat(back.layout().entries()).extracting(Object::toString)
          .containsExactly("0.weight[5, 6]", "0.bias[5]", "2.weight[3, 5]", "2.bias[3]");
      assertThat(back.lr()).isEqualTo(0.05f);
      assertThat(back.momentum()).isEqualTo(0.9f);
      assertSameState(back.state(), c.state());
      Path again = CheckpointDirectory.open(other, MODEL, 3).write(back);
      assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(file));
    }
  }

  @Test
  void aFormatOneFileWithoutItsLayoutIsStillRestored() throws IOException {
    try (ParameterStore s = store()) {
      steps(s, 0, 2);
      ParameterStore.State st = s.export();
      byte[] id = CheckpointDirectory.identity(MODEL).getBytes(java.nio.charset.StandardCharsets.UTF_8);
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16 + id.length + 21 + 8 * P + 4)
          .order(java.nio.ByteOrder.LITTLE_ENDIAN);
      b.put(CheckpointDirectory.MAGIC).putInt(1).putInt(id.length).put(id).putInt(P).putLong(st.version())
          .putFloat(0.05f).putFloat(0.9f).put((byte) 1);
      for (float f : st.parameters()) {
        b.putFloat(f);
      }
      for (float f : st.momentumBuffer()) {
        b.putFloat(f);
      }
      java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
      crc.update(b.array(), 0, b.position());
      b.putInt((int) crc.getValue());
      Files.write(dir.resolve(CheckpointDirectory.fileName(2)), b.array());
      CheckpointDirectory.Restored restored = CheckpointDirectory.open(dir, MODEL, 3).restore();
      assertThat(restored.found()).isTrue();
      assertThat(restored.checkpoint().layout()).as("format 1 kept no layout").isNull();
      assertSameState(restored.checkpoint().state(), st);
    }
  }

  @Test
  void aCorruptLayoutIsACorruptCheckpoint() throws IOException {
    try (ParameterStore s = store()) {
      steps(s, 0, 1);
      Path file = CheckpointDirectory.open(dir, MODEL, 3).write(CheckpointFile.of(MODEL, s));
      int layoutAt = 16 + CheckpointDirectory.identity(MODEL).length();
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
        f.seek(layoutAt + 4 + 4 + 8 + 4); // the first tensor's first dimension
        f.write(new byte[] {0, 0, 0, 0, 0, 0, 0, 0});
      }
      assertThatThrownBy(() -> CheckpointDirectory.read(file)).isInstanceOf(IOException.class)
          .hasMessageContaining("corrupt layout").hasMessageContaining("every dimension must be >= 1");
    }
  }

  @Test
  void restoringAfterMoreRoundsGivesTheStoreAtThatVersionAndTheSameNextStep() throws IOException {
    CheckpointDirectory checkpoints = CheckpointDirectory.open(dir, MODEL, 3);
    ParameterStore.State atFive;
    ParameterStore.State atSix;
    try (ParameterStore s = store()) {
      steps(s, 0, 5);
      checkpoints.write(CheckpointFile.of(MODEL, s));
      atFive = s.export();
      steps(s, 5, 6);
      atSix = s.export();
      steps(s, 6, 9); // rounds a crash would lose
    }
    CheckpointDirectory.Restored restored = CheckpointDirectory.open(dir, MODEL, 3).restore();
    assertThat(restored.found()).isTrue();
    assertThat(restored.skipped()).isEmpty();
    try (ParameterStore fresh = store()) {
      fresh.restore(restored.checkpoint().state());
      assertSameState(fresh.export(), atFive);
      assertThat(fresh.version()).isEqualTo(5);
      // The momentum buffer and first-step flag came back too: the next step is the same step.
      assertThat(fresh.step(round(5))).isEqualTo(6);
      assertSameState(fresh.export(), atSix);
    }
  }

  @Test
  void aCheckpointBeforeTheFirstStepKeepsSgdsFirstStepRule() throws IOException {
    ParameterStore.State afterOne;
    try (ParameterStore s = store()) {
      CheckpointDirectory.open(dir, MODEL, 3).write(CheckpointFile.of(MODEL, s));
      s.step(round(0));
      afterOne = s.export();
    }
    try (ParameterStore fresh = store()) {
      // start the fresh store from other parameters, so the restore has to overwrite them
      fresh.step(round(3));
      CheckpointDirectory.Restored r = CheckpointDirectory.open(dir, MODEL, 3).restore();
      assertThat(r.checkpoint().state().stepped()).isFalse();
      fresh.restore(r.checkpoint().state());
      fresh.step(round(0));
      assertSameState(fresh.export(), afterOne);
    }
  }

  @Test
  void aTornNewestCheckpointIsSkippedAndTheOlderOneRestored() throws IOException {
    ParameterStore.State atThree = twoCheckpoints(3, 6);
    try (RandomAccessFile f = new RandomAccessFile(dir.resolve(CheckpointDirectory.fileName(6)).toFile(), "rw")) {
      f.setLength(f.length() / 2);
    }
    CheckpointDirectory.Restored r = CheckpointDirectory.open(dir, MODEL, 3).restore();
    assertThat(r.file().getFileName().toString()).isEqualTo("ps-000000000003.ckpt");
    assertSameState(r.checkpoint().state(), atThree);
    assertThat(r.skipped()).singleElement().asString()
        .startsWith("ps-000000000006.ckpt: truncated (torn write)");
    // moved aside: it will not shadow the good ones again
    assertThat(names()).containsExactly("ps-000000000003.ckpt", "ps-000000000006.ckpt.corrupt");
    assertThat(CheckpointDirectory.open(dir, MODEL, 3).restore().skipped()).isEmpty();
  }

  @Test
  void aCheckpointWithABadCrcIsSkipped() throws IOException {
    twoCheckpoints(2, 4);
    Path newest = dir.resolve(CheckpointDirectory.fileName(4));
    byte[] b = Files.readAllBytes(newest);
    b[b.length / 2] ^= 0x10; // one bit of one parameter: same length, CRC no longer matches
    Files.write(newest, b);
    assertThatThrownBy(() -> CheckpointDirectory.read(newest)).isInstanceOf(IOException.class)
        .hasMessageContaining("corrupt: CRC32C");
    CheckpointDirectory.Restored r = CheckpointDirectory.open(dir, MODEL, 3).restore();
    assertThat(r.checkpoint().version()).isEqualTo(2);
    assertThat(r.skipped()).singleElement().asString().contains("CRC32C");
  }

  @Test
  void aFileThatIsNoCheckpointOrOfAnotherFormatIsSkipped() throws IOException {
    Files.writeString(dir.resolve(CheckpointDirectory.fileName(9)), "not a checkpoint at all, but long enough");
    CheckpointDirectory.Restored r = CheckpointDirectory.open(dir, MODEL, 3).restore();
    assertThat(r.found()).isFalse();
    assertThat(r.skipped()).singleElement().asString().contains("bad magic");
  }

  @Test
  void aCheckpointOfAnotherModelIsRefusedNamingTheDirectoryFlag() throws IOException {
    ModelSpec other = ModelSpec.mlp(4, 3);
    try (ParameterStore s = new ParameterStore(new CpuBackend(), other.initialParameters(1), 1, 0.1f, 0f)) {
      CheckpointDirectory.open(dir, other, 3).write(CheckpointFile.of(other, s));
    }
    CheckpointDirectory mine = CheckpointDirectory.open(dir, MODEL, 3);
    assertThatThrownBy(mine::restore).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("--checkpoint-dir " + dir)
        .hasMessageContaining("'mlp 4,3' (15 parameters)")
        .hasMessageContaining("'mlp 6,5,3' (" + P + " parameters)");
    assertThat(names()).as("the other model's checkpoint is left alone").containsExactly("ps-000000000000.ckpt");
  }

  @Test
  void writesLeaveNoTemporaryFileAndKeepTheNewestK() throws IOException {
    // a crash during an earlier write left a temporary file
    Files.writeString(dir.resolve("ps-000000000001.ckpt.tmp"), "half a checkpoint");
    CheckpointDirectory checkpoints = CheckpointDirectory.open(dir, MODEL, 2);
    try (ParameterStore s = store()) {
      for (int r = 0; r < 5; r++) {
        s.step(round(r));
        checkpoints.write(CheckpointFile.of(MODEL, s));
      }
    }
    assertThat(names()).containsExactly("ps-000000000004.ckpt", "ps-000000000005.ckpt");
    assertThat(checkpoints.files()).extracting(p -> p.getFileName().toString())
        .containsExactly("ps-000000000005.ckpt", "ps-000000000004.ckpt");
  }

  @Test
  void anEmptyDirectoryRestoresNothingAndABadDirectoryNamesTheFlag() throws IOException {
    assertThat(CheckpointDirectory.open(dir.resolve("new/sub"), MODEL, 1).restore().found()).isFalse();
    Path file = Files.writeString(dir.resolve("a-file"), "x");
    assertThatThrownBy(() -> CheckpointDirectory.open(file, MODEL, 1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("--checkpoint-dir " + file);
    assertThatThrownBy(() -> new CheckpointConfig(dir, 0, 3)).hasMessageStartingWith("--checkpoint-every");
    assertThatThrownBy(() -> new CheckpointConfig(dir, 5, 0)).hasMessageStartingWith("--checkpoint-keep");
  }
}
