/** Assembling nodes: the embedded in-process cluster. */
export * as EmbeddedCluster from "./EmbeddedCluster.js"
