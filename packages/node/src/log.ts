export * as FileLog from "./FileLog.js"
