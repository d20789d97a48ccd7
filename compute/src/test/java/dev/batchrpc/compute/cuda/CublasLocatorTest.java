package dev.batchrpc.compute.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where cuBLAS is looked for, with fake library files in temporary folders. */
class CublasLocatorTest {

  private static void touch(Path dir, String... names) throws IOException {
    Files.createDirectories(dir);
    for (String n : names) {
      Files.write(dir.resolve(n), new byte[] {0x7f, 'E', 'L', 'F'});
    }
  }

  @Test
  void theSettingFolderWinsAndCublas13IsPreferredOver12(@TempDir Path tmp) throws IOException {
    Path twelve = tmp.resolve("a");
    Path thirteen = tmp.resolve("b");
    touch(twelve, "libcublas.so.12", "libcublasLt.so.12");
    touch(thirteen, "libcublas.so.13", "libcublasLt.so.13");
    CublasLocator.Result r = new CublasLocator(
        Map.of(CublasLocator.ENV, twelve + ":" + thirteen), null, false).locate();
    assertThat(r.found()).hasValueSatisfying(f -> {
      assertThat(f.major()).isEqualTo(13);
      assertThat(f.cublas()).isEqualTo(thirteen.resolve("libcublas.so.13").toAbsolutePath());
      assertThat(f.cublasLt()).isEqualTo(thirteen.resolve("libcublasLt.so.13").toAbsolutePath());
    });
    assertThat(r.searched()).startsWith(twelve.toString(), thirteen.toString());
  }

  @Test
  void onlyCublas12IsUsedAsIsAndTheSystemPropertyAcceptsTheFileItself(@TempDir Path tmp)
      throws IOException {
    touch(tmp, "libcublas.so.12", "libcublasLt.so.12");
    CublasLocator.Result r = new CublasLocator(Map.of(), tmp.resolve("libcublas.so.12").toString(),
        false).locate();
    assertThat(r.found()).hasValueSatisfying(f -> assertThat(f.major()).isEqualTo(12));
    assertThat(r.searched().get(0)).isEqualTo(tmp.toString());
  }

  @Test
  void aCublasWithoutItsLtIsNotUsableAndTheReportNamesTheFolders(@TempDir Path tmp)
      throws IOException {
    Path onlyCublas = tmp.resolve("incomplete");
    Path ld = tmp.resolve("ld");
    touch(onlyCublas, "libcublas.so.13");
    Files.createDirectories(ld);
    CublasLocator locator = new CublasLocator(
        Map.of(CublasLocator.ENV, onlyCublas.toString(), "LD_LIBRARY_PATH", ld.toString()), null,
        false);
    CublasLocator.Result r = locator.locate();
    // this build machine has no cuBLAS anywhere; on a machine with one, it must not be ours
    r.found().ifPresent(f -> assertThat(f.cublas().getParent()).isNotEqualTo(onlyCublas));
    assertThat(r.searched()).contains(onlyCublas.toString(), ld.toString(),
        "/usr/lib/x86_64-linux-gnu");
    if (r.found().isEmpty()) {
      assertThat(r.describe()).contains("no libcublas.so.13 or libcublas.so.12")
          .contains(onlyCublas.toString()).contains(ld.toString());
    }
  }

  @Test
  void pythonWheelFoldersUnderPythonpathAreSearched(@TempDir Path tmp) throws IOException {
    Path site = tmp.resolve("site-packages");
    touch(site.resolve("nvidia/cu13/lib"), "libcublas.so.13", "libcublasLt.so.13");
    CublasLocator.Result r = new CublasLocator(Map.of("PYTHONPATH", site.toString()), null, false)
        .locate();
    assertThat(r.searched()).contains(site.resolve("nvidia/cublas/lib").toString(),
        site.resolve("nvidia/cu13/lib").toString());
    assertThat(r.found()).hasValueSatisfying(f -> assertThat(f.major()).isEqualTo(13));
  }

  @Test
  void aFullyVersionedFileNameIsAcceptedWhenTheSonameLinkIsMissing(@TempDir Path tmp)
      throws IOException {
    touch(tmp, "libcublas.so.13.1.0.3", "libcublasLt.so.13.1.0.3");
    CublasLocator.Result r = new CublasLocator(Map.of(CublasLocator.ENV, tmp.toString()), null,
        false).locate();
    assertThat(r.found()).hasValueSatisfying(f -> {
      assertThat(f.major()).isEqualTo(13);
      assertThat(f.cublas().getFileName().toString()).isEqualTo("libcublas.so.13.1.0.3");
      assertThat(f.cublasLt().getFileName().toString()).isEqualTo("libcublasLt.so.13.1.0.3");
    });
  }
}
