/**
 * The round primitive: collect one request from each of N participants, run one batched
 * computation off the event loop, complete every caller's future with its share.
 *
 * <p>Start at {@link dev.batchrpc.runtime.round.Round}: {@code Round.builder(context, config,
 * batchFunction)}, then {@code submit(participantId, request)} from any context. A round's state
 * lives on its owner event loop (no locks); its batches run in order on one worker thread (the caller's, or its own).
 */
package dev.batchrpc.runtime.round;
