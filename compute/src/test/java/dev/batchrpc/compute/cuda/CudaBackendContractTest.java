package dev.batchrpc.compute.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchrpc.compute.AbstractBackendTest;
import dev.batchrpc.compute.Backend;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

/**
 * The whole {@link dev.batchrpc.compute.Backend} contract (PyTorch fixtures, double references,
 * argument checks) run on the GPU backend. Tagged {@code gpu} and skipped without a usable GPU.
 *
 * <p>The contract's default tolerances hold unchanged: the element-wise kernels round exactly as
 * the CPU does, cuBLAS SGEMM is plain FP32, and expf (2 ulp) stays inside 1e-6 + 1e-5 relative.
 */
@Tag("gpu")
class CudaBackendContractTest extends AbstractBackendTest {

  @BeforeAll
  static void requireGpu() {
    CudaRuntime.Probe p = CudaRuntime.probe();
    assumeTrue(p.available(), () -> "no usable GPU: " + p.reason());
  }

  @Override
  protected Backend createBackend() {
    return new CudaBackend();
  }
}
