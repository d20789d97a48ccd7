package dev.batchrpc.compute.cuda;

import dev.batchrpc.compute.DeviceArray;

/**
 * The agent's kernels without their read-backs, for benchmarks of the kernels alone (e.g.
 * {@code GpuBench}); from {@link CudaBackend#kernelBench()}. Each call checks its arguments as the
 * {@link dev.batchrpc.compute.Backend} method of the same name does (with room for the batch's
 * actions) and queues the work: the probabilities are written as usual, the actions stay in a
 * device buffer until the next call. Not for rounds: nothing reports a {@code policyAct} uniform
 * outside [0, 1) (the kernel then leaves the outputs unwritten).
 */
public interface KernelBench {

  /** {@link dev.batchrpc.compute.Backend#policyAct} without reading anything back. */
  void policyAct(DeviceArray params, int in, int hidden, int out, int batch, DeviceArray states,
                 DeviceArray dropoutScale, DeviceArray uniforms, DeviceArray probsOut);

  /**
   * {@link dev.batchrpc.compute.Backend#policyActKeyed} without reading the actions back: uploads
   * the observer ids and queues the kernel.
   */
  void policyActKeyed(DeviceArray params, int in, int hidden, int out, int batch,
                      DeviceArray states, int[] observers, long seed, long step, float dropoutP,
                      DeviceArray probsOut);
}
