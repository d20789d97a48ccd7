package dev.batchrpc.compute.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Finds a cuBLAS shared library ({@code libcublas.so.13} preferred, else {@code libcublas.so.12})
 * together with the {@code libcublasLt} it needs.
 *
 * <p>Places, in order: the setting {@code BATCHRPC_CUBLAS_PATH} (environment) or
 * {@code -Dbatchrpc.cublas.path} (a folder or the library file itself), {@code LD_LIBRARY_PATH},
 * the dynamic linker's folders ({@code /etc/ld.so.conf.d} and the standard ones),
 * {@code /usr/local/cuda*}, and the {@code nvidia/*}{@code /lib} folders of Python installations
 * (the pip wheel {@code nvidia-cublas}), asking {@code python3} for its paths last.
 */
public final class CublasLocator {

  /** Setting naming a folder (or file) holding libcublas; env var and system property. */
  public static final String ENV = "BATCHRPC_CUBLAS_PATH";
  /** System property twin of {@link #ENV}. */
  public static final String PROPERTY = "batchrpc.cublas.path";

  /** A cuBLAS found on disk: major version (12 or 13), the library and its libcublasLt. */
  public record Found(int major, Path cublas, Path cublasLt) {
  }

  /** The outcome: what was found (if anything) and every folder looked in, in order. */
  public record Result(Optional<Found> found, List<String> searched) {
    /** A one-line description for logs and errors. */
    public String describe() {
      return found.map(f -> "cuBLAS " + f.major() + " at " + f.cublas())
          .orElse("no libcublas.so.13 or libcublas.so.12 (with its libcublasLt) in: "
              + String.join(", ", searched));
    }
  }

  private final Map<String, String> env;
  private final String property;
  private final boolean askPython;

  /** A locator over this process's environment and system properties. */
  public CublasLocator() {
    this(System.getenv(), System.getProperty(PROPERTY), true);
  }

  /**
   * A locator over the given environment, for tests.
   *
   * @param env environment variables to consult
   * @param property value of {@link #PROPERTY}, or null
   * @param askPython whether to run {@code python3} to learn its site-packages as a last resort
   */
  public CublasLocator(Map<String, String> env, String property, boolean askPython) {
    this.env = Map.copyOf(env);
    this.property = property;
    this.askPython = askPython;
  }

  /** Searches every place; prefers cuBLAS 13 anywhere over cuBLAS 12 anywhere. */
  public Result locate() {
    List<Path> dirs = new ArrayList<>(candidateDirs());
    Optional<Found> found = scan(dirs);
    if (found.isEmpty() && askPython) {
      List<Path> py = pythonDirs();
      py.removeAll(dirs);
      dirs.addAll(py);
      found = scan(dirs);
    }
    List<String> searched = new ArrayList<>();
    for (Path d : dirs) {
      searched.add(d.toString());
    }
    return new Result(found, List.copyOf(searched));
  }

  private static Optional<Found> scan(List<Path> dirs) {
    for (int major : new int[] {13, 12}) {
      for (Path d : dirs) {
        Path lib = library(d, "libcublas.so." + major);
        Path lt = library(d, "libcublasLt.so." + major);
        if (lib != null && lt != null) {
          return Optional.of(new Found(major, lib.toAbsolutePath(), lt.toAbsolutePath()));
        }
      }
    }
    return Optional.empty();
  }

  /** {@code dir/soname}, else the first {@code dir/soname.*} (e.g. libcublas.so.13.0.2.14). */
  private static Path library(Path dir, String soname) {
    Path exact = dir.resolve(soname);
    if (Files.isRegularFile(exact)) {
      return exact;
    }
    List<Path> versioned = glob(dir, soname + ".*", "");
    return versioned.isEmpty() ? null : versioned.get(0);
  }

  /** Folders to look in, in order, without duplicates (existing or not: they are reported). */
  List<Path> candidateDirs() {
    Set<Path> out = new LinkedHashSet<>();
    for (String setting : new String[] {env.get(ENV), property}) {
      if (setting != null && !setting.isBlank()) {
        for (String part : setting.split(":")) {
          if (!part.isBlank()) {
            Path p = Paths.get(part.trim());
            out.add(Files.isRegularFile(p) && p.getParent() != null ? p.getParent() : p);
          }
        }
      }
    }
    String ld = env.get("LD_LIBRARY_PATH");
    if (ld != null) {
      for (String part : ld.split(":")) {
        if (!part.isBlank()) {
          out.add(Paths.get(part));
        }
      }
    }
    out.addAll(linkerDirs());
    out.addAll(glob(Paths.get("/usr/local"), "cuda*", "lib64"));
    out.addAll(glob(Paths.get("/usr/local"), "cuda*", "targets/x86_64-linux/lib"));
    List<Path> sitePackages = new ArrayList<>();
    for (String root : new String[] {"/usr/local/lib", "/usr/lib", "/opt/conda/lib",
        env.getOrDefault("HOME", "/nonexistent") + "/.local/lib",
        env.getOrDefault("VIRTUAL_ENV", "/nonexistent") + "/lib",
        env.getOrDefault("CONDA_PREFIX", "/nonexistent") + "/lib"}) {
      for (Path py : glob(Paths.get(root), "python3*", "")) {
        sitePackages.add(py.resolve("dist-packages"));
        sitePackages.add(py.resolve("site-packages"));
      }
    }
    String pythonPath = env.get("PYTHONPATH");
    if (pythonPath != null) {
      for (String part : pythonPath.split(":")) {
        if (!part.isBlank()) {
          sitePackages.add(Paths.get(part));
        }
      }
    }
    for (Path sp : sitePackages) {
      out.addAll(nvidiaLibDirs(sp));
    }
    return new ArrayList<>(out);
  }

  /** {@code <site>/nvidia/cublas/lib} first, then every other {@code <site>/nvidia/<x>/lib}. */
  private static List<Path> nvidiaLibDirs(Path sitePackages) {
    List<Path> out = new ArrayList<>();
    Path nvidia = sitePackages.resolve("nvidia");
    if (!Files.isDirectory(nvidia)) {
      return out;
    }
    out.add(nvidia.resolve("cublas/lib"));
    out.addAll(glob(nvidia, "*", "lib"));
    return out;
  }

  private static List<Path> linkerDirs() {
    List<Path> out = new ArrayList<>();
    Path confD = Paths.get("/etc/ld.so.conf.d");
    if (Files.isDirectory(confD)) {
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(confD, "*.conf")) {
        for (Path conf : ds) {
          for (String line : Files.readAllLines(conf, StandardCharsets.UTF_8)) {
            String t = line.trim();
            if (t.startsWith("/")) {
              out.add(Paths.get(t));
            }
          }
        }
      } catch (IOException | RuntimeException e) {
        // Unreadable linker configuration: the standard folders below still get searched.
      }
    }
    for (String d : new String[] {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
        "/lib64", "/usr/lib64", "/lib", "/usr/lib"}) {
      out.add(Paths.get(d));
    }
    return out;
  }

  /** {@code parent/<match>/suffix} (or {@code parent/<match>} itself when suffix is empty), sorted. */
  private static List<Path> glob(Path parent, String pattern, String suffix) {
    List<Path> out = new ArrayList<>();
    if (!Files.isDirectory(parent)) {
      return out;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(parent, pattern)) {
      for (Path p : ds) {
        if (suffix.isEmpty()) {
          out.add(p);
        } else if (Files.isDirectory(p)) {
          out.add(p.resolve(suffix));
        }
      }
    } catch (IOException e) {
      return out;
    }
    out.sort(null);
    return out;
  }

  /** Asks {@code python3} for its import paths; the nvidia wheels live under one of them. */
  private static List<Path> pythonDirs() {
    List<Path> out = new ArrayList<>();
    try {
      Process p = new ProcessBuilder("python3", "-c", "import sys; print('\\n'.join(sys.path))")
          .redirectErrorStream(true).start();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return out;
      }
      String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      for (String line : text.split("\n")) {
        String t = line.trim();
        if (t.startsWith("/")) {
          out.addAll(nvidiaLibDirs(Paths.get(t)));
        }
      }
    } catch (IOException e) {
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return out;
  }
}
