package dev.batchrpc.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link AbstractBackend} on a backend of its own that only records which kernel it was asked for:
 * a refused call reaches no kernel, a good one reaches exactly its kernel with the arrays typed,
 * and a backend's hooks (ownership, aliasing, policy limits) come in where the class says. The
 * messages themselves are the contract's ({@link AbstractBackendTest}, run on every backend).
 */
class AbstractBackendChecksTest {

  /** An array of the recording backend; two arrays alias when they share {@code storage}. */
  static final class Stub implements DeviceArray {
    final Recording owner;
    final float[] storage;
    boolean closed;

    Stub(Recording owner, float[] storage) {
      this.owner = owner;
      this.storage = storage;
    }

    @Override
    public int length() {
      return storage.length;
    }

    @Override
    public Backend backend() {
      return owner;
    }

    @Override
    public void close() {
      closed = true;
    }

    @Override
    public String toString() {
      return "Stub[" + storage.length + "]";
    }
  }

  /** Records the kernels called; refuses a policy of more than {@code maxOut} actions. */
  static final class Recording extends AbstractBackend<Stub> {
    final List<String> calls = new ArrayList<>();
    int maxOut = Integer.MAX_VALUE;

    Stub view(Stub of) {
      return new Stub(this, of.storage);
    }

    @Override
    protected Stub owned(DeviceArray a) {
      return a instanceof Stub s && s.owner == this ? s : null;
    }

    @Override
    protected String ownerRule() {
      return "not a stub of this backend";
    }

    @Override
    protected boolean isClosed(Stub a) {
      return a.closed;
    }

    @Override
    protected boolean aliases(Stub x, Stub y) {
      return x.storage == y.storage;
    }

    @Override
    protected void checkPolicyLimits(int in, int hidden, int out, int batch, boolean keyed) {
      if (out > maxOut) {
        throw new IllegalArgumentException("limit: out=" + out);
      }
    }

    @Override
    protected Stub allocateK(int length) {
      calls.add("allocate");
      return new Stub(this, new float[length]);
    }

    @Override
    protected void copyInK(float[] src, int srcOff, Stub dst, int dstOff, int len) {
      calls.add("copyIn");
      System.arraycopy(src, srcOff, dst.storage, dstOff, len);
    }

    @Override
    protected void copyOutK(Stub src, int srcOff, float[] dst, int dstOff, int len) {
      calls.add("copyOut");
      System.arraycopy(src.storage, srcOff, dst, dstOff, len);
    }

    @Override
    protected void fillK(Stub a, float value) {
      calls.add("fill");
    }

    @Override
    protected void sgemmK(boolean transA, boolean transB, int m, int n, int k, float alpha,
                          Stub a, Stub b, float beta, Stub c) {
      calls.add("sgemm");
    }

    @Override
    protected void sumAverageK(Stub stacked, int count, int length, Stub out) {
      calls.add("sumAverage");
    }

    @Override
    protected void sgdMomentumK(Stub params, Stub grad, Stub buf, float lr, float momentum,
                                boolean firstStep) {
      calls.add("sgd buf=" + (buf != null));
    }

    @Override
    protected void averageAndSgdK(Stub stacked, int count, Stub gradOut, Stub params, Stub buf,
                                  float lr, float momentum, boolean firstStep) {
      calls.add("averageAndSgd");
    }

    @Override
    protected void adamK(Stub params, Stub grad, Stub m, Stub v, float beta1, float beta2,
                         float eps, AdamScalars scalars) {
      calls.add("adam " + scalars.equals(AdamScalars.of(0.01f, beta1, beta2, 3)));
    }

    @Override
    protected void policyActK(Stub params, int in, int hidden, int out, int batch, Stub states,
                              Stub dropoutScale, Stub uniforms, Stub probsOut, int[] actionsOut) {
      calls.add("policyAct");
    }

    @Override
    protected void policyActKeyedK(Stub params, int in, int hidden, int out, int batch,
                                   Stub states, int[] observers, long seed, long step,
                                   float dropoutP, Stub probsOut, int[] actionsOut) {
      calls.add("policyActKeyed");
    }

    @Override
    public String name() {
      return "recording";
    }

    @Override
    public boolean isGpu() {
      return false;
    }

    @Override
    public void close() {
    }
  }

  private final Recording backend = new Recording();

  private Stub array(int length) {
    return backend.allocate(length);
  }

  @Test
  void refusedCallsReachNoKernel() {
    Stub p = array(3);
    Stub g = array(3);
    Stub closed = array(3);
    closed.close();
    Stub foreign = new Recording().allocate(3);
    Stub stacked = array(5);
    Stub m = array(3);
    Stub v = array(3);
    backend.calls.clear();
    assertThatThrownBy(() -> backend.allocate(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> backend.copyIn(new float[2], 0, p, 2, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2, 4)");
    assertThatThrownBy(() -> backend.fill(closed, 1f))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("a (Stub[3]) is closed");
    assertThatThrownBy(() -> backend.sgdMomentum(p, foreign, null, 0.1f, 0f, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("grad is a Stub owned by recording, not a stub of this backend");
    assertThatThrownBy(() -> backend.sgdMomentum(p, g, null, 0.1f, 0.9f, true))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("momentumBuf is null");
    assertThatThrownBy(() -> backend.sumAverage(stacked, 2, 3, g))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2 x 3]");
    assertThatThrownBy(() -> backend.adam(p, g, m, v, 0, 0.01f, 0.9f, 0.999f, 1e-8f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("step");
    assertThat(backend.calls).isEmpty();
  }

  @Test
  void goodCallsReachTheirKernelOnce() {
    Stub p = array(3);
    Stub g = array(3);
    Stub buf = array(3);
    backend.calls.clear();
    backend.sgdMomentum(p, g, buf, 0.1f, 0.9f, true);
    backend.sgdMomentum(p, g, null, 0.1f, 0f, false); // momentum 0: no buffer is checked or passed
    backend.averageAndSgd(array(6), 2, g, p, buf, 0.1f, 0.9f, false);
    backend.adam(p, g, array(3), array(3), 3, 0.01f, 0.9f, 0.999f, 1e-8f);
    backend.copyIn(FloatBuffer.wrap(new float[] {1f, 2f}), p, 1); // the default: a float[] copy
    assertThat(backend.calls).containsExactly("sgd buf=true", "sgd buf=false", "allocate",
        "averageAndSgd", "allocate", "allocate", "adam true", "copyIn");
    assertThat(p.storage).containsExactly(0f, 1f, 2f);
  }

  @Test
  void aliasingIsTheBackendsRuleNotObjectIdentity() {
    Stub p = array(3);
    Stub sameMemory = backend.view(p);
    assertThatThrownBy(() -> backend.sgdMomentum(p, sameMemory, null, 0.1f, 0f, true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("distinct");
    Stub b = array(9);
    assertThatThrownBy(() -> backend.sgemm(false, false, 1, 3, 3, 1f, sameMemory, b, 0f, p))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("must not alias");
  }

  @Test
  void policyLimitsComeAfterTheArgumentsWithoutArraysAndBeforeTheArrays() {
    backend.maxOut = 1;
    Stub params = array(4 * 8 + 8 + 2 * 8 + 2);
    int[] actions = new int[2];
    // dimensions, observers and the dropout probability are checked before the backend's limits
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 8, 2, 2, array(8), null, 1, 1,
        0.5f, array(4), actions)).hasMessage("policyAct observers is null");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 8, 2, 2, array(8), new int[2], 1, 1,
        2f, array(4), actions)).hasMessageContaining("dropoutP");
    // the limits before any array: a foreign states array is not reported
    assertThatThrownBy(() -> backend.policyAct(params, 4, 8, 2, 2, null, array(16), array(2),
        array(4), actions)).hasMessage("limit: out=2");
    assertThatThrownBy(() -> backend.policyActKeyed(params, 4, 8, 2, 2, null, new int[2], 1, 1,
        0.5f, array(4), actions)).hasMessage("limit: out=2");
    backend.maxOut = 2;
    backend.calls.clear();
    backend.policyAct(params, 4, 8, 2, 2, array(8), array(16), array(2), array(4), actions);
    backend.policyActKeyed(params, 4, 8, 2, 2, array(8), new int[2], 1, 1, 0.5f, array(4),
        actions);
    assertThat(backend.calls).filteredOn(c -> c.startsWith("policy"))
        .containsExactly("policyAct", "policyActKeyed");
  }
}
