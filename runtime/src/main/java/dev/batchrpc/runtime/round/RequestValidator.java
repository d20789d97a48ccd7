package dev.batchrpc.runtime.round;

import dev.batchrpc.runtime.RpcException;

/**
 * Checks a request before it joins a round (shape, finiteness, version). A refused request is
 * failed at once with the exception's code and message and does not count as an arrival; the open
 * round is unharmed.
 *
 * <p>It runs on the round's owner event loop: keep it cheap (a length check, one pass over the
 * values), never blocking.
 *
 * @param <Q> the request type
 */
@FunctionalInterface
public interface RequestValidator<Q> {

  /**
   * Accepts the request by returning, refuses it by throwing.
   *
   * @param participantId the sender
   * @param request the request
   * @throws RpcException to refuse with a code (e.g. {@code SHAPE_MISMATCH}, {@code NON_FINITE});
   *     any other runtime exception refuses with {@code BAD_REQUEST} and its message
   */
  void validate(String participantId, Q request);
}
