/**
 * The cluster's pure decision logic: metadata, the metadata log's records, the controller's
 * reducer and decisions, leader election, replica placement, ISR / high-watermark rules,
 * idempotent-producer state and the client-visible errors.
 */
export * as ClusterErrors from "./Errors.js"
export * as ControllerState from "./ControllerState.js"
export * as Decisions from "./Decisions.js"
export * as Election from "./Election.js"
export * as Isr from "./Isr.js"
export * as Liveness from "./Liveness.js"
export * as Metadata from "./Metadata.js"
export * as MetadataRecord from "./MetadataRecord.js"
export * as Placement from "./Placement.js"
export * as ProducerState from "./ProducerState.js"
export * as Broker from "./Broker.js"
export * as Controller from "./Controller.js"
export * as ControllerProtocol from "./ControllerProtocol.js"
export * as LogStore from "./LogStore.js"
export * as Replica from "./Replica.js"
export * as ReplicaProtocol from "./ReplicaProtocol.js"
