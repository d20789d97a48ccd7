package dev.batchrpc.compute.cuda;

import dev.batchrpc.compute.Backends;

/**
 * Prints {@link Backends#probeReport()} and exits 0 when CUDA is usable, 2 when it is not: the
 * device check's first step, so its output says plainly why a GPU run could not start.
 */
public final class ProbeMain {

  private ProbeMain() {
  }

  public static void main(String[] args) {
    System.out.println(Backends.probeReport());
    CudaRuntime.Probe p = CudaRuntime.probe();
    if (p.available()) {
      try (CudaBackend gpu = new CudaBackend()) {
        System.out.println("backend started: " + gpu.name());
      } catch (RuntimeException e) {
        System.out.println("CUDA probed fine but the backend failed to start: " + e);
        System.exit(3);
      }
    }
    System.exit(p.available() ? 0 : 2);
  }
}
