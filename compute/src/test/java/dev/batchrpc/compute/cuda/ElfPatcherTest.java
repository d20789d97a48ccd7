package dev.batchrpc.compute.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import jcuda.JCudaVersion;
import jcuda.LibUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ELF patch on the real {@code libJCublas2} of the natives jar (no GPU needed). */
class ElfPatcherTest {

  private static byte[] jcublas2() throws IOException {
    String file = LibUtils.createLibraryFileName(
        LibUtils.createPlatformLibraryName("JCublas2-" + JCudaVersion.get()));
    try (InputStream in = LibUtils.class.getResourceAsStream("/lib/" + file)) {
      assertThat(in).as("/lib/%s from org.jcuda:jcublas-natives", file).isNotNull();
      return in.readAllBytes();
    }
  }

  private static ElfPatcher.VersionNeed need(ElfPatcher.DynamicInfo info, String file) {
    return info.versionNeeds().stream().filter(v -> v.file().equals(file)).findFirst()
        .orElseThrow(() -> new AssertionError("no version need for " + file + " in "
            + info.versionNeeds()));
  }

  @Test
  void storedVersionHashesOfTheOriginalAgreeWithElfHash() throws IOException {
    // the linker wrote vna_hash = elf_hash(vna_name) for every needed version (GLIBC_2.2.5, ...):
    // an independent check of our hash function on a dozen real names
    ElfPatcher.DynamicInfo info = ElfPatcher.read(jcublas2());
    List<ElfPatcher.VersionAux> all = new ArrayList<>();
    info.versionNeeds().forEach(v -> all.addAll(v.versions()));
    assertThat(all).hasSizeGreaterThan(5);
    for (ElfPatcher.VersionAux a : all) {
      assertThat(a.hash()).as("hash of %s", a.name()).isEqualTo(ElfPatcher.elfHash(a.name()));
    }
    assertThat(info.needed()).contains("libcublas.so.12");
  }

  @Test
  void renamingCublasRewritesNeededAndVersionAndLeavesTheOriginalUntouched(@TempDir Path tmp)
      throws Exception {
    byte[] original = jcublas2();
    byte[] before = original.clone();
    byte[] patched = ElfPatcher.renameDependency(original, "libcublas.so.12", "libcublas.so.13");

    assertThat(original).as("input array").isEqualTo(before);
    ElfPatcher.DynamicInfo was = ElfPatcher.read(original);
    ElfPatcher.DynamicInfo now = ElfPatcher.read(patched);
    List<String> expectedNeeded = new ArrayList<>(was.needed());
    expectedNeeded.replaceAll(n -> n.equals("libcublas.so.12") ? "libcublas.so.13" : n);
    assertThat(now.needed()).isEqualTo(expectedNeeded);
    ElfPatcher.VersionNeed cublas = need(now, "libcublas.so.13");
    assertThat(cublas.versions()).extracting(ElfPatcher.VersionAux::name)
        .containsExactly("libcublas.so.13");
    assertThat(cublas.versions().get(0).hash()).isEqualTo(ElfPatcher.elfHash("libcublas.so.13"))
        .isNotEqualTo(ElfPatcher.elfHash("libcublas.so.12"));
    // every other version need is as it was (same files, names, hashes, indices)
    assertThat(now.versionNeeds()).filteredOn(v -> !v.file().startsWith("libcublas"))
        .isEqualTo(was.versionNeeds().stream().filter(v -> !v.file().startsWith("libcublas"))
            .toList());
    // only the renamed characters ("2" -> "3") and the 4-byte hash changed
    int differing = 0;
    for (int i = 0; i < original.length; i++) {
      if (original[i] != patched[i]) {
        differing++;
      }
    }
    assertThat(patched).hasSameSizeAs(original);
    assertThat(differing).isBetween(1, 3 + 4);

    // and the system's readelf, when present, reads the patched file the same way
    Path file = tmp.resolve("libJCublas2-patched.so");
    Files.write(file, patched);
    String dynamic = readelf("-d", file);
    String versions = readelf("-V", file);
    if (dynamic != null && versions != null) {
      assertThat(dynamic).contains("[libcublas.so.13]").doesNotContain("libcublas.so.12");
      assertThat(versions).contains("File: libcublas.so.13").contains("Name: libcublas.so.13")
          .doesNotContain("libcublas.so.12");
    }
  }

  /** readelf's output, or null when the tool is not installed. */
  private static String readelf(String option, Path file) throws Exception {
    Process p;
    try {
      p = new ProcessBuilder("readelf", option, file.toString()).redirectErrorStream(true).start();
    } catch (IOException e) {
      return null;
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("readelf %s: %s", option, out).isZero();
    return out;
  }

  @Test
  void refusesNamesOfDifferentLengthOrNotNeededOrNonElfInput() throws IOException {
    byte[] lib = jcublas2();
    byte[] before = lib.clone();
    assertThatThrownBy(() -> ElfPatcher.renameDependency(lib, "libcublas.so.12", "libcublas.so.130"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("libcublas.so.12").hasMessageContaining("libcublas.so.130")
        .hasMessageContaining("15 bytes").hasMessageContaining("16 bytes");
    assertThatThrownBy(() -> ElfPatcher.renameDependency(lib, "libcufft.so.12", "libcufft.so.13"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("libcufft.so.12")
        .hasMessageContaining("libcublas.so.12");
    assertThatThrownBy(() -> ElfPatcher.read("not an elf".getBytes(StandardCharsets.US_ASCII)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not an ELF file");
    assertThat(lib).isEqualTo(before);
  }

  /**
   * The dynamic linker accepts the patched library: against a stand-in {@code libcublas.so.13}
   * that defines the version {@code libcublas.so.13} (built with the system C compiler, skipped
   * without one), the patched JCublas2 loads, while the original still asks for .so.12. Symbols
   * bind lazily, so the stand-in needs no cuBLAS functions.
   */
  @Test
  void theLinkerLoadsThePatchedLibraryAgainstACublas13(@TempDir Path tmp) throws Exception {
    Path src = tmp.resolve("stub.c");
    Path map = tmp.resolve("stub.map");
    Path stub = tmp.resolve("libcublas.so.13");
    Files.writeString(src, "int batchrpc_stub(void) { return 0; }\n");
    Files.writeString(map, "libcublas.so.13 { global: *; };\n");
    Process cc;
    try {
      cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-o", stub.toString(),
          "-Wl,-soname,libcublas.so.13", "-Wl,--version-script=" + map, src.toString())
          .redirectErrorStream(true).start();
    } catch (IOException e) {
      org.junit.jupiter.api.Assumptions.abort("no C compiler to build a stand-in cuBLAS: " + e);
      return;
    }
    String ccOut = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(cc.waitFor(60, TimeUnit.SECONDS)).isTrue();
    org.junit.jupiter.api.Assumptions.assumeTrue(cc.exitValue() == 0, () -> "cc failed: " + ccOut);

    byte[] original = jcublas2();
    Path patched = tmp.resolve("libJCublas2-patched.so");
    Path unpatched = tmp.resolve("libJCublas2-original.so");
    Files.write(patched, ElfPatcher.renameDependency(original, "libcublas.so.12",
        "libcublas.so.13"));
    Files.write(unpatched, original);

    assertThat(loadInChild(stub, patched)).isEqualTo("LOADED");
    assertThat(loadInChild(stub, unpatched)).startsWith("FAILED").contains("libcublas.so.12");
  }

  private static String loadInChild(Path first, Path second) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        PatchedLoadCheck.class.getName(), first.toString(), second.toString())
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String[] lines = out.split("\n");
    return lines[lines.length - 1];
  }
}
