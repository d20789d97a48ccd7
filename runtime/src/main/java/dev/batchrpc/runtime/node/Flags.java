package dev.batchrpc.runtime.node;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Command-line flags with environment fallbacks, the one way every service reads its settings:
 * {@code --name value} or {@code --name=value} (a flag with no value is {@code true}); when absent,
 * the environment variable {@code BATCHRPC_NAME} (upper case, '-' as '_'); else the default. A bad
 * value throws {@link IllegalArgumentException} naming the flag. Immutable.
 */
public final class Flags {

  /** The prefix of the environment variables. */
  public static final String ENV_PREFIX = "BATCHRPC_";

  private final Map<String, String> flags;
  private final Map<String, String> env;

  private Flags(Map<String, String> flags, Map<String, String> env) {
    this.flags = flags;
    this.env = env;
  }

  /**
   * Parses arguments, reading the fallbacks from the given environment.
   *
   * @param args the command line
   * @param env the environment, e.g. {@code System.getenv()}
   * @return the flags
   * @throws IllegalArgumentException for an argument that is not a {@code --flag}
   */
  public static Flags parse(String[] args, Map<String, String> env) {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || a.length() == 2) {
        throw new IllegalArgumentException("expected a --flag, got '" + a + "'");
      }
      int eq = a.indexOf('=');
      if (eq > 0) {
        flags.put(a.substring(2, eq), a.substring(eq + 1));
      } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        flags.put(a.substring(2), args[++i]);
      } else {
        flags.put(a.substring(2), "true");
      }
    }
    return new Flags(Map.copyOf(flags), Map.copyOf(Objects.requireNonNull(env, "env")));
  }

  /** The raw value of {@code --name} or its environment variable, or {@code null}. */
  public String raw(String name) {
    String v = flags.get(name);
    return v != null ? v : env.get(ENV_PREFIX + name.toUpperCase(Locale.ROOT).replace('-', '_'));
  }

  /** A string setting. */
  public String string(String name, String defaultValue) {
    String v = raw(name);
    return v == null ? defaultValue : v;
  }

  /** An integer setting; a value that is not an integer throws naming {@code --name}. */
  public int integer(String name, int defaultValue) {
    String v = raw(name);
    if (v == null) {
      return defaultValue;
    }
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be an integer, got '" + v + "'");
    }
  }

  /** A boolean setting: {@code true} or {@code false}; anything else throws naming {@code --name}. */
  public boolean bool(String name, boolean defaultValue) {
    String v = raw(name);
    if (v == null) {
      return defaultValue;
    }
    switch (v.trim().toLowerCase(Locale.ROOT)) {
      case "true":
        return true;
      case "false":
        return false;
      default:
        throw new IllegalArgumentException("--" + name + " must be true or false, got '" + v + "'");
    }
  }

  /** A comma-separated list setting; blanks around items are trimmed, empty items dropped. */
  public List<String> list(String name, List<String> defaultValue) {
    String v = raw(name);
    if (v == null) {
      return defaultValue;
    }
    List<String> out = new ArrayList<>();
    for (String item : v.split(",")) {
      if (!item.isBlank()) {
        out.add(item.trim());
      }
    }
    return List.copyOf(out);
  }
}
