/**
 * Event-bus plumbing the services share: {@link dev.batchrpc.runtime.bus.Consumers#serve} registers
 * a consumer that decodes its protobuf request defensively (any body a sender can put on the bus
 * gets a failure code, never a silent drop) and answers with the service's future.
 */
package dev.batchrpc.runtime.bus;
