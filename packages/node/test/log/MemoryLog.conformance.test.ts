import { MemoryLog } from "@fiberlog/core"
import { conformance } from "./PartitionLogConformance.js"

conformance("MemoryLog", () => MemoryLog.make())
