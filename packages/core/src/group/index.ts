/**
 * Consumer groups: assignors, the group state machine, its errors, and committed-offset records.
 * Pure logic; the `GroupCoordinator` actor wraps it with I/O and timers.
 */
export * as Assignor from "./Assignor.js"
export * as Group from "./Group.js"
export * as GroupErrors from "./Errors.js"
export * as GroupState from "./GroupState.js"
export * as OffsetKey from "./OffsetKey.js"
export * as TopicPartition from "./TopicPartition.js"
export * as GroupCoordinator from "./GroupCoordinator.js"
export * as GroupProtocol from "./GroupProtocol.js"
