package dev.batchrpc.runtime.ops;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Locale;

/**
 * Meters shared by the services that are not a round's: which compute backend a service uses.
 * Names follow the project's rule: dotted, base units, bounded tags.
 */
public final class ServiceMeters {

  private ServiceMeters() {
  }

  /**
   * Registers {@code compute.backend{service, backend=cpu|cuda}} = 1: which backend a service's
   * compute runs on (a dashboard shows it; an alert can catch a GPU node that fell back to CPU).
   *
   * @param registry the process's registry; nothing happens when null
   * @param service the service's metric prefix ("ps", "agent")
   * @param gpu whether the backend is the GPU one
   */
  public static void backend(MeterRegistry registry, String service, boolean gpu) {
    if (registry == null) {
      return;
    }
    Gauge.builder("compute.backend", () -> 1)
        .description("1 for the compute backend a service runs on (backend=cpu|cuda)")
        .tag("service", service.toLowerCase(Locale.ROOT))
        .tag("backend", gpu ? "cuda" : "cpu")
        .register(registry);
  }
}
