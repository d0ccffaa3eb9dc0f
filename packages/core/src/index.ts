/**
 * @fiberlog/core — the runtime, the log, the cluster, consumer groups and the clients.
 * Runs in any JS runtime: everything that touches the OS lives in @fiberlog/node.
 */
export * from "./transport/index.js"
export * from "./actor/index.js"
export * from "./log/index.js"
export * from "./cluster/index.js"
export * from "./group/index.js"
export * from "./client/index.js"
export * from "./server/index.js"
