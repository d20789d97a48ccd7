package dev.batchrpc.compute.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchrpc.compute.Backend;
import dev.batchrpc.compute.Backends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Backends#select} on whatever machine runs it: without a GPU (the build machines) auto
 * must fall back to the CPU and cuda must fail with the reason; with one, both give the GPU.
 */
class BackendsSelectionTest {

  @Test
  void autoUsesTheGpuExactlyWhenTheProbeSaysItIsUsable() {
    CudaRuntime.Probe probe = CudaRuntime.probe();
    try (Backend b = Backends.select("auto")) {
      assertThat(b.isGpu()).as(probe.describe()).isEqualTo(probe.available());
    }
    String report = Backends.probeReport();
    if (probe.available()) {
      assertThat(report).startsWith("device auto -> cuda").contains(probe.deviceName());
    } else {
      assertThat(probe.reason()).isNotBlank();
      assertThat(report).startsWith("device auto -> cpu").contains(probe.reason());
    }
  }

  @Test
  void cudaWithoutAGpuFailsWithTheReasonAndCpuAlwaysWorks() {
    CudaRuntime.Probe probe = CudaRuntime.probe();
    if (probe.available()) {
      try (Backend b = Backends.select("cuda")) {
        assertThat(b.isGpu()).isTrue();
      }
    } else {
      assertThatThrownBy(() -> Backends.select("cuda")).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("--device cuda").hasMessageContaining(probe.reason());
    }
    try (Backend b = Backends.select(" CPU ")) {
      assertThat(b.isGpu()).isFalse();
    }
  }

  @Test
  void withoutADriverTheReasonNamesTheMissingDriverLibrary() {
    CudaRuntime.Probe probe = CudaRuntime.probe();
    if (!probe.available() && probe.reason().startsWith("CUDA driver missing")) {
      assertThat(probe.reason()).contains("JCudaDriver").contains("libcuda.so.1");
    }
  }

  @ParameterizedTest
  @NullAndEmptySource
  @ValueSource(strings = {"gpu", "cuda:0", "tpu"})
  void unknownDeviceNamesAreRejectedNamingTheSettingAndTheAllowedValues(String device) {
    assertThatThrownBy(() -> Backends.select(device))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--device")
        .hasMessageContaining("auto, cpu, cuda").hasMessageContaining("'" + device + "'");
  }
}
