/**
 * The clients: producer, consumer and admin.
 */
export * as Partitioner from "./Partitioner.js"
export * as Admin from "./Admin.js"
export * as ClientError from "./ClientError.js"
export * as Consumer from "./Consumer.js"
export * as MetadataCache from "./MetadataCache.js"
export * as Producer from "./Producer.js"
export * as GroupConsumer from "./GroupConsumer.js"
export * as GroupAdmin from "./GroupAdmin.js"
