/** @fiberlog/node — fiberlog on Node: durable file log, TCP transport, broker server and CLI. */
export * from "./log.js"
export * as TcpNetwork from "./TcpNetwork.js"
export * as FileLogStore from "./FileLogStore.js"
export * as Server from "./Server.js"
export * as LocalCluster from "./internal/server/localCluster.js"
