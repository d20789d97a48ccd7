/**
 * Transport security shared by every service: a node's TLS material ({@link
 * dev.batchrpc.runtime.net.TlsConfig}), the Vert.x options built from it for the clustered event
 * bus, gRPC servers and gRPC clients ({@link dev.batchrpc.runtime.net.Tls}), and the private CA and
 * node certificates of {@code batch-rpc certs} ({@link dev.batchrpc.runtime.net.Certificates}).
 * docs/security.md has the threat model.
 */
package dev.batchrpc.runtime.net;
