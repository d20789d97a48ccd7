package dev.batchrpc.compute;

/**
 * The per-step scalars of a {@code torch.optim.Adam} step, derived once so that every backend's
 * element-wise update uses the very same float32 values (CPU and CUDA results are compared bit for
 * bit). PyTorch computes the bias corrections in double from the Python (double)
 * hyper-parameters; a float's shortest decimal form recovers that double (0.9f -> 0.9), and the
 * scalars are then rounded to float32 where torch hands them to its float32 kernel.
 *
 * @param negStepSize {@code -lr / (1 - beta1^step)}
 * @param bc2Sqrt {@code sqrt(1 - beta2^step)}
 * @param oneMinusBeta1 {@code 1 - beta1}
 * @param oneMinusBeta2 {@code 1 - beta2}
 */
public record AdamScalars(float negStepSize, float bc2Sqrt, float oneMinusBeta1, float oneMinusBeta2) {

  /** The scalars of step {@code step} (counting from 1). */
  public static AdamScalars of(float lr, float beta1, float beta2, long step) {
    double b1 = asDecimal(beta1);
    double b2 = asDecimal(beta2);
    double bc1 = 1.0 - Math.pow(b1, step);
    double bc2 = 1.0 - Math.pow(b2, step);
    return new AdamScalars((float) -(asDecimal(lr) / bc1), (float) Math.sqrt(bc2),
        (float) (1.0 - b1), (float) (1.0 - b2));
  }

  private static double asDecimal(float f) {
    return Double.parseDouble(Float.toString(f));
  }
}
