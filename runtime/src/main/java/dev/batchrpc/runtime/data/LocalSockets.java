package dev.batchrpc.runtime.data;

import dev.batchrpc.runtime.net.Tls;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Unix-domain sockets of data channels: where a server's lives, and the clean-up of files left
 * by processes that were killed. A data server listens on one besides its TCP port; a client on
 * the same host (it finds the file) connects there: no TCP stack per message, about half the
 * kernel's work for a small frame. Not with TLS (a client verifies the server's host name) nor
 * without Netty's native transport (Vert.x needs it for domain sockets).
 *
 * <p>The file name holds the owner's pid and 64 random bits: a client on another host does not
 * find it, and a later process removes a file whose owner no longer runs.
 */
final class LocalSockets {

  static final String PREFIX = "batchrpc-sock-";
  private static final Pattern NAME = Pattern.compile("batchrpc-sock-[0-9]+-[0-9a-f]{16}\\.sock");
  private static final SecureRandom RANDOM = new SecureRandom();
  /** The prefixes whose stale files this process removed already (once each). */
  private static final java.util.Set<String> SWEPT = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private static final System.Logger LOG = System.getLogger(LocalSockets.class.getName());

  private LocalSockets() {
  }

  /** A fresh socket path for a server of this process, or null where it should have none. */
  static Path newPath(Vertx vertx) {
    if (Tls.of(vertx) != null || !vertx.isNativeTransportEnabled()) {
      return null;
    }
    Path dir = ShmSegment.directory();
    if (dir == null) {
      return null;
    }
    Path path = freshPath(dir, PREFIX, NAME, 8, ".sock");
    path.toFile().deleteOnExit();
    return path;
  }

  /**
   * A new file name of this process in {@code dir}: {@code <prefix><pid>-<idBytes random bytes in
   * hex><suffix>} (shared-memory segments and sockets alike). The first call for a prefix removes
   * the stale files of that prefix ({@link #sweepStale}).
   */
  static Path freshPath(Path dir, String prefix, Pattern name, int idBytes, String suffix) {
    if (SWEPT.add(prefix)) {
      sweepStale(dir, prefix, name);
    }
    byte[] id = new byte[idBytes];
    RANDOM.nextBytes(id);
    return dir.resolve(prefix + ProcessHandle.current().pid() + "-" + HexFormat.of().formatHex(id) + suffix);
  }

  /** Whether {@code path} (a data endpoint's {@code local_path}) is a socket of this host to connect to. */
  static boolean usable(String path) {
    if (path == null || path.isEmpty()) {
      return false;
    }
    try {
      Path p = Path.of(path);
      return p.getFileName() != null && NAME.matcher(p.getFileName().toString()).matches() && Files.exists(p);
    } catch (RuntimeException e) {
      return false;
    }
  }

  static void delete(Path path) {
    try {
      Files.deleteIfExists(path);
    } catch (IOException e) {
      LOG.log(System.Logger.Level.DEBUG, "could not remove " + path + ": " + e);
    }
  }

  /** Removes files named {@code <prefix><pid>-...} that match {@code name} and whose pid no longer runs. */
  static void sweepStale(Path dir, String prefix, Pattern name) {
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, prefix + "*")) {
      for (Path f : files) {
        String n = f.getFileName().toString();
        if (!name.matcher(n).matches()) {
          continue;
        }
        long pid = Long.parseLong(n.substring(prefix.length(), n.indexOf('-', prefix.length())));
        if (ProcessHandle.of(pid).isEmpty()) {
          Files.deleteIfExists(f);
        }
      }
    } catch (IOException | RuntimeException e) {
      LOG.log(System.Logger.Level.DEBUG, "could not sweep " + dir + ": " + e);
    }
  }
}
