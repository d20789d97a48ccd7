package dev.batchrpc.compute.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.AbstractBackendTest;
import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.DeviceArray;
import org.junit.jupiter.api.Test;

class CpuBackendTest extends AbstractBackendTest {

  @Override
  protected Backend createBackend() {
    return new CpuBackend();
  }

  @Test
  void nameReportsTheBlasAndNeverTheReferenceBlasSilently() {
    String blas = CpuBackend.blasName();
    assertThat(backend.name()).isEqualTo("cpu (" + blas + ")");
    assertThat(backend.isGpu()).isFalse();
    // without an explicit nativeLib/nativeLibPath the choice is OpenBLAS or a Java BLAS
    if (System.getProperty(Blas.NATIVE_LIB_PATH) == null
        && !"libopenblas.so.0".equals(System.getProperty(Blas.NATIVE_LIB))) {
      return;
    }
    assertThat(blas).satisfiesAnyOf(
        b -> assertThat(b).startsWith("OpenBLAS"),
        b -> assertThat(b).contains("Java"));
  }

  @Test
  void surefireRunsWithTheVectorApiSoTheJavaGemmIsVectorized() {
    // compute/pom.xml passes --add-modules=jdk.incubator.vector; without OpenBLAS that must give
    // the SIMD Java GEMM, not the scalar one
    assertThat(CpuBackend.blasName()).satisfiesAnyOf(
        b -> assertThat(b).startsWith("OpenBLAS"),
        b -> assertThat(b).startsWith("Java GEMM (Vector API, "));
  }

  @Test
  void wrapIsZeroCopyAndCloseInvalidates() {
    float[] data = {1f, 2f};
    CpuArray a = CpuArray.wrap(data);
    backend.fill(a, 3f);
    assertThat(data).containsExactly(3f, 3f);
    assertThat(a.data()).isSameAs(data);
    a.close();
    assertThatThrownBy(a::data).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> backend.fill(a, 1f)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("closed");
  }

  @Test
  void rejectsArraysOfAnotherBackend() {
    DeviceArray foreign = new DeviceArray() {
      @Override
      public int length() {
        return 2;
      }

      @Override
      public Backend backend() {
        return backend;
      }

      @Override
      public void close() {
      }
    };
    assertThatThrownBy(() -> backend.fill(foreign, 1f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a CPU array");
  }
}
