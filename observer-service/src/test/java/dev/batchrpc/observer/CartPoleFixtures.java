package dev.batchrpc.observer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads {@code fixtures/cartpole.json}, written by {@code tools/fixtures/generate_fixtures.py}
 * (flat row-major lists with {@code <field>_shape} siblings).
 */
final class CartPoleFixtures {

  private CartPoleFixtures() {}

  static List<JsonNode> cases() {
    try (InputStream in = CartPoleFixtures.class.getResourceAsStream("/fixtures/cartpole.json")) {
      if (in == null) {
        throw new IllegalStateException("fixtures/cartpole.json is not on the test classpath");
      }
      List<JsonNode> out = new ArrayList<>();
      new ObjectMapper().readTree(in).get("cases").forEach(out::add);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Plain trajectories (start state + actions until termination or the time limit). */
  static List<JsonNode> trajectories() {
    return cases().stream().filter(c -> !c.has("n_steps")).toList();
  }

  /** The tutorial's fixed-length episodes with resets and returns. */
  static List<JsonNode> episodes() {
    return cases().stream().filter(c -> c.has("n_steps")).toList();
  }

  static int[] shape(JsonNode c, String field) {
    JsonNode s = c.get(field + "_shape");
    int[] out = new int[s.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = s.get(i).asInt();
    }
    return out;
  }

  static double[] doubles(JsonNode c, String field) {
    JsonNode a = c.get(field);
    double[] out = new double[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asDouble();
    }
    return out;
  }

  /** float32 values: the JSON holds their exact double values, so the cast is exact. */
  static float[] floats(JsonNode c, String field) {
    double[] d = doubles(c, field);
    float[] out = new float[d.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) d[i];
    }
    return out;
  }

  static int[] ints(JsonNode c, String field) {
    JsonNode a = c.get(field);
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  static boolean[] booleans(JsonNode c, String field) {
    JsonNode a = c.get(field);
    boolean[] out = new boolean[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asBoolean();
    }
    return out;
  }

  /** Row {@code r} of a [rows, 4] field. */
  static double[] row4(double[] flat, int r) {
    double[] out = new double[4];
    System.arraycopy(flat, 4 * r, out, 0, 4);
    return out;
  }
}
