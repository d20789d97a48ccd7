/**
 * gRPC plumbing the services share: {@link dev.batchrpc.runtime.grpc.GrpcServices#addService} binds
 * a generated service so that a request whose bytes do not decode gets {@code INVALID_ARGUMENT}
 * with a message, rather than a reset stream.
 */
package dev.batchrpc.runtime.grpc;
