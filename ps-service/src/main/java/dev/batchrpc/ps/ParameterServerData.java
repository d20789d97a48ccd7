package dev.batchrpc.ps;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.batchrpc.proto.Addresses;
import dev.batchrpc.proto.FailureCode;
import dev.batchrpc.proto.v1.DataHeader;
import dev.batchrpc.proto.v1.GetModelRequest;
import dev.batchrpc.proto.v1.ModelReply;
import dev.batchrpc.proto.v1.UpdateRequest;
import dev.batchrpc.runtime.RpcException;
import dev.batchrpc.runtime.data.DataServer;
import dev.batchrpc.runtime.data.TensorPayload;
import io.vertx.core.Future;
import java.nio.ByteBuffer;
import java.util.Map;

/**
 * The parameter server's calls on the data channel ({@link DataServer}): {@code ps.get-model} and
 * {@code ps.update-and-fetch}, the same calls as on the event bus and gRPC, into the same round,
 * with the tensor bytes as frame payloads.
 *
 * <p>An update's payload must be exactly the model's size (4 bytes per parameter), checked before
 * it is received ({@code SHAPE_MISMATCH}, payload skipped); the gradient is then read in place
 * from the received buffer by the finite check and the round's step, and the buffer goes back to
 * the pool when the call completes. A round's reply is split once (body without data + the
 * parameters' one direct buffer) and that split answers every trainer of the round.
 *
 * <p>Thread-safety: called on the data server's event loops; the split cache is one volatile
 * reference to an immutable pair.
 */
final class ParameterServerData {

  private final ParameterServer ps;
  private final long gradientBytes;
  private volatile Split last;

  /** A reply and its split. */
  private record Split(ModelReply reply, DataServer.Reply data) {
  }

  ParameterServerData(ParameterServer ps, int parameterCount) {
    this.ps = ps;
    this.gradientBytes = 4L * parameterCount;
  }

  /** The methods to serve. */
  Map<String, DataServer.Method> methods() {
    return Map.of(Addresses.PS_GET_MODEL, DataServer.Method.headerOnly(Addresses.PS_GET_MODEL, null,
        GetModelRequest.getDefaultInstance(), (q, callerGone) -> ps.getModelLeased(q).map(this::split)),
        Addresses.PS_UPDATE_AND_FETCH, new DataServer.Method() {
      @Override
      public void admit(DataHeader header, long payloadLength) {
        if (header.getOffset() != 0) {
          throw new RpcException(FailureCode.BAD_REQUEST, "offset " + header.getOffset()
              + ": this parameter server holds the whole model (offset 0)");
        }
        if (payloadLength != gradientBytes) {
          throw new RpcException(FailureCode.SHAPE_MISMATCH, "gradients of " + payloadLength
              + " bytes, the model has " + gradientBytes / 4 + " parameters (" + gradientBytes
              + " bytes of float32); refused before receiving them");
        }
      }

      @Override
      public Future<DataServer.Reply> call(DataHeader header, ByteBuffer payload) {
        return call(header, payload, null);
      }

      @Override
      public Future<DataServer.Reply> call(DataHeader header, ByteBuffer payload, Future<Void> callerGone) {
        UpdateRequest q;
        try {
          q = TensorPayload.join(UpdateRequest.parseFrom(header.getBody()), payload);
        } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
          return Future.failedFuture(malformed("UpdateRequest", e));
        }
        // A trainer whose connection closes while its gradient waits in the open round takes it back.
        return ps.updateAndFetchLeased(q, callerGone).map(ParameterServerData.this::split);
      }
    });
  }

  private static RpcException malformed(String type, Exception e) {
    return new RpcException(FailureCode.BAD_REQUEST, "malformed " + type + " on the data channel: "
        + e.getMessage());
  }

  /**
   * The reply's body and payload, split once per reply (all trainers of a round share it), with
   * the lease released once this caller's copy is written.
   */
  private DataServer.Reply split(ParameterServer.Lease lease) {
    ModelReply reply = lease.reply();
    Split s = last;
    if (s == null || s.reply != reply) {
      TensorPayload.Split parts = TensorPayload.split(reply);
      s = new Split(reply, new DataServer.Reply(parts.body().toByteString(), TensorPayload.view(parts.data())));
      last = s;
    }
    return new DataServer.Reply(s.data.body(), s.data.payload(), lease::release);
  }
}
