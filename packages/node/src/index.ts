/** @fiberlog/node — fiberlog on Node: durable file log, TCP transport, broker server and CLI. */
export * from "./log.js"
export * as TcpNetwork from "./TcpNetwork.js"
