package dev.batchrpc.runtime.process;

import java.util.List;
import java.util.Map;

/**
 * A child process for {@link ChildJvmReaperTest}: starts a grandchild ({@link ParentOfChildMain.SleeperMain}) with
 * {@link ChildJvm}, prints {@code child <pid>}, then sleeps until it is killed.
 */
public final class ParentOfChildMain {

  private ParentOfChildMain() {
  }

  public static void main(String[] args) throws Exception {
    ChildJvm child = ChildJvm.start("sleeper", ChildJvm.command(SleeperMain.class), List.of(), Map.of());
    child.awaitLine("sleeping"::equals, 60_000);
    System.out.println("child " + child.pid());
    Thread.sleep(Long.MAX_VALUE);
  }

  /** Prints {@code sleeping}, then sleeps. */
  public static final class SleeperMain {
    private SleeperMain() {
    }

    public static void main(String[] args) throws Exception {
      System.out.println("sleeping");
      Thread.sleep(Long.MAX_VALUE);
    }
  }
}
