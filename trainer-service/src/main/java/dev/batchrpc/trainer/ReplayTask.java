package dev.batchrpc.trainer;

import com.google.protobuf.UnsafeByteOperations;
import dev.batchrpc.proto.Tensors;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Sends one fixed, pre-made gradient every round and computes nothing, so a benchmark measures the
 * parameter server and the transport alone. The gradient is sized from the server's model on the
 * first {@link #load} and encoded once.
 */
public final class ReplayTask implements GradientTask {

  private Tensor gradient;

  @Override
  public String describe() {
    return "replay" + (gradient == null ? "" : " (" + Tensors.checkedElementCount(gradient) + " parameters)");
  }

  @Override
  public void load(ModelReply model) {
    // The model itself is not applied: nothing is computed from it. Only its size matters.
    int n = Tensors.checkedElementCount(model.getParameters());
    if (gradient == null || Tensors.checkedElementCount(gradient) != n) {
      // Off-heap, as a real trainer's gradient on its way to the socket would be: sent without a
      // copy into a direct buffer first.
      ByteBuffer bytes = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
      FloatBuffer g = bytes.asFloatBuffer();
      for (int i = 0; i < n; i++) {
        g.put(i, 1e-4f * ((i % 13) - 6));
      }
      gradient = Tensor.newBuilder().addShape(n).setData(UnsafeByteOperations.unsafeWrap(bytes)).build();
    }
  }

  @Override
  public Step step() {
    if (gradient == null) {
      throw new IllegalStateException("replay task has no model yet");
    }
    return new Step(Float.NaN, gradient);
  }
}
