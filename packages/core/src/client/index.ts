/**
 * The clients: producer, consumer and admin.
 */
export * as Partitioner from "./Partitioner.js"
