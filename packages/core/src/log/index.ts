/** The log layer: records, batches, the partition log service and its in-memory implementation. */
export * as Compaction from "./Compaction.js"
export * as LeaderEpochCache from "./LeaderEpochCache.js"
export * as LogError from "./LogError.js"
export * as MemoryLog from "./MemoryLog.js"
export * as PartitionLog from "./PartitionLog.js"
export * as Record from "./Record.js"
export * as RecordBatch from "./RecordBatch.js"
