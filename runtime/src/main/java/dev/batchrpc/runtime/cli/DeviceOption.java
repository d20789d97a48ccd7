package dev.batchrpc.runtime.cli;

import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * The compute device of a service, as a picocli mixin ({@code @Mixin DeviceOption device;}). The
 * backend is chosen from it in {@code compute} ({@code Backends.select}); this checks the value
 * before anything starts, so a typo is a bad flag (exit 2) rather than a failed start.
 */
public final class DeviceOption {

  /** The values {@code Backends.select} takes (case-insensitive, blanks around ignored). */
  public static final List<String> VALUES = List.of("auto", "cpu", "cuda");

  @Option(names = "--device", defaultValue = "auto",
      description = "auto, cpu or cuda (auto falls back to cpu and says why). Default: ${DEFAULT-VALUE}.")
  String device = "auto";

  /**
   * {@code --device} as given.
   *
   * @throws IllegalArgumentException naming the flag when it is not one of {@link #VALUES}; a
   *     blank value passes (each service says what blank means)
   */
  public String value() {
    if (device != null && !device.isBlank() && !VALUES.contains(device.trim().toLowerCase(Locale.ROOT))) {
      throw new IllegalArgumentException("--device must be one of " + String.join(", ", VALUES)
          + ", got '" + device + "'");
    }
    return device;
  }
}
