package dev.batchrpc.compute.cuda;

/**
 * Child-process main for {@link ElfPatcherTest}: loads a stand-in {@code libcublas.so.13}, then
 * the patched {@code libJCublas2}, and prints {@code LOADED} or the linker's error. Runs in its
 * own JVM so the stand-in never shadows a real cuBLAS in the test JVM.
 */
public final class PatchedLoadCheck {

  private PatchedLoadCheck() {
  }

  public static void main(String[] args) {
    try {
      System.load(args[0]);
      System.load(args[1]);
      System.out.println("LOADED");
    } catch (Throwable t) {
      System.out.println("FAILED: " + t.getMessage());
    }
  }
}
