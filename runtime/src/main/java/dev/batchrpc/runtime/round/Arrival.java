package dev.batchrpc.runtime.round;

/**
 * One accepted request of a round.
 *
 * @param participantId who sent it (unique within its round)
 * @param request what was sent
 * @param <Q> the request type
 */
public record Arrival<Q>(String participantId, Q request) {
}
