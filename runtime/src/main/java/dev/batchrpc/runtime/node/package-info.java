/**
 * Starting the process's Vert.x node: {@link dev.batchrpc.runtime.node.Nodes#start} with a
 * validated {@link dev.batchrpc.runtime.node.NodeConfig}, plain (one process) or clustered over
 * Hazelcast (TCP/IP join, never multicast), with one Prometheus registry and the protobuf codec.
 * {@link dev.batchrpc.runtime.node.Node#watchMembers} reports nodes leaving the cluster.
 */
package dev.batchrpc.runtime.node;
