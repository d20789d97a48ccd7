package dev.batchrpc.compute.cpu;

import static dev.batchrpc.compute.Fixtures.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchrpc.compute.random.Rng;
import dev.ludovic.netlib.blas.BLAS;
import dev.ludovic.netlib.blas.JavaBLAS;
import dev.ludovic.netlib.blas.NativeBLAS;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The per-shape dispatch between {@link JavaGemm} and a native BLAS. Without OpenBLAS (the CI
 * machine) netlib's scalar Java BLAS (f2j) stands in for the native one: it rounds every product
 * and sums into C, where JavaGemm fuses and sums apart, so a result's bits tell which one
 * computed it.
 */
class GemmDispatchTest {

  /** m, n, k, transA, transB: the trainer's MLP 784-256-10 step at batch 20, and small ones. */
  private static final int[][] SHAPES = {
      {20, 256, 784, 0, 1}, {20, 10, 256, 0, 1}, {20, 256, 10, 0, 0}, {10, 256, 20, 1, 0},
      {256, 784, 20, 1, 0}, {8, 16, 100, 0, 1}, {11, 128, 4, 0, 1}, {11, 2, 128, 0, 1},
      {1, 128, 4, 0, 1}};

  private record Call(boolean ta, boolean tb, int m, int n, int k, float[] a, float[] b,
                      float[] c0) {
    static Call of(int[] s, Rng rng) {
      return new Call(s[3] == 1, s[4] == 1, s[0], s[1], s[2],
          JavaGemmTest.random(rng, s[0] * s[2]), JavaGemmTest.random(rng, s[2] * s[1]),
          JavaGemmTest.random(rng, s[0] * s[1]));
    }

    float[] javaGemm() {
      float[] c = c0.clone();
      JavaGemm.sgemm(ta, tb, m, n, k, 1f, a, 0, b, 0, 1f, c, 0);
      return c;
    }

    float[] through(BLAS blas) {
      float[] c = c0.clone();
      GemmDispatch.nativeRowMajor(blas, ta, tb, m, n, k, 1f, a, 0, b, 0, 1f, c, 0);
      return c;
    }

    float[] through(GemmDispatch d) {
      float[] c = c0.clone();
      d.sgemm(ta, tb, m, n, k, 1f, a, 0, b, 0, 1f, c, 0);
      return c;
    }
  }

  /** netlib's scalar Java BLAS (its class is not public). */
  private static BLAS f2j() throws ReflectiveOperationException {
    Method m = Class.forName("dev.ludovic.netlib.blas.F2jBLAS").getMethod("getInstance");
    m.setAccessible(true);
    return (BLAS) m.invoke(null);
  }

  @Test
  void smallShapesGoToJavaGemmAndTheOthersToTheNativeBlasBitwise()
      throws ReflectiveOperationException {
    BLAS other = f2j();
    GemmDispatch d = new GemmDispatch(other, GemmDispatch.JAVA_BELOW_FUSED, Long.MAX_VALUE);
    Rng rng = new Rng(3);
    for (int[] s : SHAPES) {
      Call call = Call.of(s, rng);
      long macs = (long) call.m * call.n * call.k;
      boolean java = macs < GemmDispatch.JAVA_BELOW_FUSED && call.n >= GemmDispatch.THIN;
      assertThat(d.toJava(call.m, call.n, call.k)).as("%dx%dx%d", call.m, call.n, call.k)
          .isEqualTo(java);
      float[] expected = java ? call.javaGemm() : call.through(other);
      assertThat(call.through(d)).as("%dx%dx%d", call.m, call.n, call.k).isEqualTo(expected);
    }
    // the bits tell the two apart on these shapes, so the checks above say who computed what
    Call small = Call.of(new int[] {8, 16, 100, 0, 1}, new Rng(5));
    Call large = Call.of(SHAPES[0], new Rng(5));
    assertThat(small.javaGemm()).isNotEqualTo(small.through(other));
    assertThat(large.javaGemm()).isNotEqualTo(large.through(other));
  }

  @Test
  void boundsAreByMultiplyAddsWithThinShapesToTheNativeBlasUnlessItWouldThread() {
    BLAS other = JavaBLAS.getInstance();
    GemmDispatch threaded = new GemmDispatch(other, GemmDispatch.JAVA_BELOW_FUSED,
        GemmDispatch.OPENBLAS_THREADS_FROM);
    assertThat(threaded.toJava(16, 16, 63)).isTrue(); // 16,128: under the bound
    assertThat(threaded.toJava(16, 16, 64)).isFalse(); // 16,384: the bound
    assertThat(threaded.toJava(64, 64, 63)).isFalse(); // 258,048: under OpenBLAS's threads
    assertThat(threaded.toJava(64, 64, 64)).isTrue(); // 262,144: OpenBLAS would thread it
    assertThat(threaded.toJava(20, 256, 784)).isTrue();
    assertThat(threaded.toJava(11, 2, 128)).isFalse(); // thin: native even when small
    assertThat(threaded.toJava(1, 3, 1)).isFalse();
    assertThat(threaded.toJava(1024, 2, 128)).isTrue(); // thin but threaded
    assertThat(threaded.describeJavaShare()).isEqualTo("GEMMs under 16384 multiply-adds with "
        + "n >= 4, or from 262144 multiply-adds: Java GEMM");

    GemmDispatch generic = new GemmDispatch(other, Long.MAX_VALUE, Long.MAX_VALUE);
    assertThat(generic.toJava(512, 512, 512)).isTrue();
    assertThat(generic.toJava(1000, 2, 128)).isFalse();
    assertThat(generic.describeJavaShare()).isEqualTo("GEMMs with n >= 4: Java GEMM");

    GemmDispatch every = GemmDispatch.every(other);
    assertThat(every.toJava(1, 128, 4)).isFalse();
    assertThat(every.describeJavaShare()).isNull();
    assertThat(GemmDispatch.every(null).toJava(512, 512, 512)).isTrue();
    assertThat(GemmDispatch.every(null).describeJavaShare()).isNull();
  }

  @Test
  void fusedKernelProbeTellsFusedSumsFromRoundedProducts() throws ReflectiveOperationException {
    // netlib's scalar BLAS (f2j's translation of the reference Fortran) rounds every product
    assertThat(GemmDispatch.fusedKernels(f2j())).isFalse();
    // netlib's Vector API BLAS sums with fma (emulated, so still fused, under -XX:-UseFMA)
    JavaBLAS vector = JavaBLAS.getInstance();
    assumeTrue(vector.getClass().getSimpleName().startsWith("Vector"),
        "netlib's Vector API BLAS (surefire passes --add-modules=jdk.incubator.vector)");
    assertThat(GemmDispatch.fusedKernels(vector)).isTrue();
  }

  @Test
  void fiveConcurrentCallersGetTheBitsOfOneCaller() throws Exception {
    // Blas as selected here (JavaGemm without OpenBLAS; the dispatch with it): the same operands
    // on 5 threads at once, 200 times each, give what one thread gave
    Rng rng = new Rng(9);
    List<Call> calls = new ArrayList<>();
    List<float[]> alone = new ArrayList<>();
    for (int[] s : SHAPES) {
      Call call = Call.of(s, rng);
      calls.add(call);
      float[] c = call.c0.clone();
      Blas.sgemmRowMajor(call.ta, call.tb, call.m, call.n, call.k, 1f, call.a, 0, call.b, 0, 1f,
          c, 0);
      alone.add(c);
    }
    ExecutorService pool = Executors.newFixedThreadPool(5);
    try {
      List<Future<Integer>> done = new ArrayList<>();
      for (int t = 0; t < 5; t++) {
        int first = t;
        Callable<Integer> task = () -> {
          int checked = 0;
          for (int r = 0; r < 200; r++) {
            int i = (first + r) % calls.size();
            Call call = calls.get(i);
            float[] c = call.c0.clone();
            Blas.sgemmRowMajor(call.ta, call.tb, call.m, call.n, call.k, 1f, call.a, 0, call.b,
                0, 1f, c, 0);
            assertThat(c).as("thread %d call %d", first, r).isEqualTo(alone.get(i));
            checked++;
          }
          return checked;
        };
        done.add(pool.submit(task));
      }
      for (Future<Integer> f : done) {
        assertThat(f.get()).isEqualTo(200);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void withOpenBlasTheDispatchSendsSmallShapesToJavaGemmAndStaysWithinRounding() {
    assumeTrue(Blas.blas() instanceof NativeBLAS && Blas.name().startsWith("OpenBLAS ("),
        "needs OpenBLAS (Debian's libopenblas0, or -D" + Blas.NATIVE_LIB_PATH + "=...), absent "
            + "here: the dispatch runs above with netlib's Java BLAS in its place");
    BLAS openBlas = Blas.blas();
    GemmDispatch d = Blas.dispatch();
    Rng rng = new Rng(4);
    for (int[] s : SHAPES) {
      Call call = Call.of(s, rng);
      float[] viaBlas = call.c0.clone();
      Blas.sgemmRowMajor(call.ta, call.tb, call.m, call.n, call.k, 1f, call.a, 0, call.b, 0, 1f,
          viaBlas, 0);
      float[] expected = d.toJava(call.m, call.n, call.k) ? call.javaGemm()
          : call.through(openBlas);
      assertThat(viaBlas).as("%dx%dx%d", call.m, call.n, call.k).isEqualTo(expected);
      // either way within rounding of the other: sums of k products of magnitude <= 1
      assertClose("m=" + call.m + " n=" + call.n + " k=" + call.k, viaBlas, call.javaGemm(),
          1e-6 * call.k, 1e-5);
    }
    // a small shape goes to JavaGemm even with OpenBLAS loaded, a thin one to OpenBLAS
    assertThat(d.toJava(11, 128, 4)).isTrue();
    assertThat(d.toJava(11, 2, 128)).isFalse();
  }

  @org.junit.jupiter.api.Test
  void aBadJavaBelowSettingIsNamedNotABareNumberFormatError() {
    assertThat(Blas.javaBelow(" 4096 ")).isEqualTo(4096);
    assertThat(Blas.javaBelow("0")).isZero();
    for (String bad : new String[] {"lots", "-1", "1e6", ""}) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> Blas.javaBelow(bad)).as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("-D" + Blas.JAVA_BELOW)
          .hasMessageContaining("'" + bad + "'");
    }
  }
}
