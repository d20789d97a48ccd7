package dev.batchrpc.compute;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the PyTorch reference fixtures ({@code src/test/resources/fixtures/<name>.json}, written by
 * {@code tools/fixtures/generate_fixtures.py}) and compares float arrays with the project's
 * tolerance. Public so the CUDA tests (and other modules, through the test-jar) can reuse it.
 */
public final class Fixtures {

  /** Absolute tolerance of the fixture contract. */
  public static final double ATOL = 1e-6;
  /** Relative tolerance of the fixture contract. */
  public static final double RTOL = 1e-5;

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private Fixtures() {
  }

  /** The cases of {@code fixtures/<name>.json} on the test classpath. */
  public static List<Case> load(String name) {
    String resource = "/fixtures/" + name + ".json";
    try (InputStream in = Fixtures.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("fixture " + resource + " is missing: run /usr/bin/python3 "
            + "tools/fixtures/generate_fixtures.py");
      }
      JsonNode root = MAPPER.readTree(in);
      List<Case> cases = new ArrayList<>();
      for (JsonNode c : root.path("cases")) {
        cases.add(new Case(name, c));
      }
      if (cases.isEmpty()) {
        throw new IllegalStateException("fixture " + resource + " has no cases");
      }
      return cases;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read fixture " + resource, e);
    }
  }

  /** One case of a fixture file. */
  public static final class Case {
    private final String file;
    private final JsonNode node;

    Case(String file, JsonNode node) {
      this.file = file;
      this.node = node;
    }

    /** The case's name. */
    public String name() {
      return node.path("name").asText();
    }

    private JsonNode field(String f) {
      JsonNode n = node.get(f);
      if (n == null) {
        throw new IllegalStateException(file + "/" + name() + " has no field " + f);
      }
      return n;
    }

    /** True if the case has this field. */
    public boolean has(String f) {
      return node.has(f);
    }

    /** A tensor field with its {@code <field>_shape}. */
    public Tensor tensor(String f) {
      JsonNode shapeNode = field(f + "_shape");
      int[] shape = new int[shapeNode.size()];
      for (int i = 0; i < shape.length; i++) {
        shape[i] = shapeNode.get(i).asInt();
      }
      return Tensor.of(floats(f), shape);
    }

    /** The shape of a tensor field. */
    public int[] shape(String f) {
      JsonNode shapeNode = field(f + "_shape");
      int[] shape = new int[shapeNode.size()];
      for (int i = 0; i < shape.length; i++) {
        shape[i] = shapeNode.get(i).asInt();
      }
      return shape;
    }

    /** A flat list of numbers as float32 (each written from a float32, so exact). */
    public float[] floats(String f) {
      JsonNode n = field(f);
      float[] out = new float[n.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = (float) n.get(i).asDouble();
      }
      return out;
    }

    /** A flat list of numbers as float64. */
    public double[] doubles(String f) {
      JsonNode n = field(f);
      double[] out = new double[n.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = n.get(i).asDouble();
      }
      return out;
    }

    /** A flat list of integers. */
    public int[] ints(String f) {
      JsonNode n = field(f);
      int[] out = new int[n.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = n.get(i).asInt();
      }
      return out;
    }

    /** A scalar number. */
    public double number(String f) {
      return field(f).asDouble();
    }

    /** A scalar integer. */
    public int integer(String f) {
      return field(f).asInt();
    }

    @Override
    public String toString() {
      return file + "/" + name();
    }
  }

  /** Elements {@code [off, off + len)} of {@code a} as a new array. */
  public static float[] slice(float[] a, int off, int len) {
    float[] out = new float[len];
    System.arraycopy(a, off, out, 0, len);
    return out;
  }

  /** Asserts the contract's tolerance: |a - e| <= 1e-6 + 1e-5 |e| elementwise. */
  public static void assertClose(String what, float[] actual, float[] expected) {
    assertClose(what, actual, expected, ATOL, RTOL);
  }

  /**
   * Asserts |a - e| <= atol + rtol |e| elementwise, reporting the worst element on failure.
   */
  public static void assertClose(String what, float[] actual, float[] expected, double atol,
                                 double rtol) {
    assertThat(actual.length).as(what + " length").isEqualTo(expected.length);
    int bad = 0;
    int worst = -1;
    double worstExcess = 0;
    for (int i = 0; i < actual.length; i++) {
      double err = Math.abs((double) actual[i] - expected[i]);
      double allowed = atol + rtol * Math.abs(expected[i]);
      if (!(err <= allowed)) {
        bad++;
        double excess = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / allowed;
        if (worst < 0 || excess > worstExcess) {
          worst = i;
          worstExcess = excess;
        }
      }
    }
    if (bad > 0) {
      throw new AssertionError(what + ": " + bad + " of " + actual.length + " elements outside "
          + atol + " + " + rtol + "|e|; worst at [" + worst + "]: actual " + actual[worst]
          + ", expected " + expected[worst] + " (" + String.format("%.1f", worstExcess)
          + "x the tolerance)");
    }
  }

  /** Asserts a scalar within {@code atol + rtol |expected|}. */
  public static void assertClose(String what, double actual, double expected, double atol,
                                 double rtol) {
    double allowed = atol + rtol * Math.abs(expected);
    if (!(Math.abs(actual - expected) <= allowed)) {
      throw new AssertionError(what + ": actual " + actual + ", expected " + expected
          + " (tolerance " + allowed + ")");
    }
  }
}
