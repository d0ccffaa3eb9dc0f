import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber } from "effect"
import { GroupProtocol as GP, InProcess } from "../../src/index.js"
import { advance } from "../server/harness.js"
import { cluster, coordinatorOf, coordinatorOn, during } from "./coordinatorHarness.js"

const network = InProcess.layer({ serialize: true })
const meta = new TextEncoder().encode("{}")

const join = (memberId = "", groupInstanceId?: string) =>
  new GP.JoinGroup({
    groupId: "g",
    memberId,
    ...(groupInstanceId === undefined ? {} : { groupInstanceId }),
    clientId: "c",
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: meta }],
    sessionTimeoutMs: 3_000,
    rebalanceTimeoutMs: 5_000
  })

describe("GroupCoordinator", () => {
  it.scoped("answers FindCoordinator from any broker with the leader of the group's offsets partition", () =>
    Effect.gen(function*() {
      const { c, client } = yield* cluster()
      const infos = yield* Effect.forEach(c.brokerIds, (id) => coordinatorOn(client, id).ask(new GP.FindCoordinator({ groupId: "g" })))
      expect(new Set(infos.map((i) => i.brokerId)).size).toBe(1)
      const m = yield* c.metadata
      const offsets = m.topics.find((t) => t.name === "__consumer_offsets")!
      expect(offsets.config.cleanupPolicy).toBe("compact")
      expect(offsets.partitions[infos[0]!.partition]!.leader).toBe(infos[0]!.brokerId)
      // Another broker refuses the group.
      const other = c.brokerIds.find((id) => id !== infos[0]!.brokerId)!
      const refused = yield* Effect.either(coordinatorOn(client, other).ask(join()))
      expect(Either.isLeft(refused) && refused.left._tag).toBe("NotCoordinator")
    }).pipe(Effect.provide(network)))

  it.scoped("a fenced member's commit is refused and changes nothing; commits survive the coordinator's crash", () =>
    Effect.gen(function*() {
      const { c, client } = yield* cluster()
      const { info, ref } = yield* coordinatorOf(c, client, "g")
      const a = yield* during(ref.ask(join()))
      expect(a.generationId).toBe(1)
      yield* during(ref.ask(new GP.SyncGroup({ groupId: "g", memberId: a.memberId, generationId: 1, assignments: [] })))
      yield* during(ref.ask(new GP.OffsetCommit({
        groupId: "g",
        memberId: a.memberId,
        generationId: 1,
        offsets: [{ topic: "t", partition: 0, offset: 42, metadata: "" }]
      })))
      // A second member joins: generation 2. The first one's generation-1 commit is fenced.
      const bJoin = yield* Effect.fork(ref.ask(join()))
      yield* advance(200)
      const aRejoin = yield* Effect.fork(ref.ask(join(a.memberId)))
      yield* advance(500)
      const b = yield* Fiber.join(bJoin)
      yield* Fiber.join(aRejoin)
      expect(b.generationId).toBe(2)
      const syncs = yield* Effect.fork(Effect.all([
        ref.ask(new GP.SyncGroup({ groupId: "g", memberId: a.memberId, generationId: 2, assignments: [] })),
        ref.ask(new GP.SyncGroup({ groupId: "g", memberId: b.memberId, generationId: 2, assignments: [] }))
      ], { concurrency: 2 }))
      yield* advance(500)
      yield* Fiber.join(syncs)
      const fenced = yield* Effect.either(during(ref.ask(new GP.OffsetCommit({
        groupId: "g",
        memberId: a.memberId,
        generationId: 1,
        offsets: [{ topic: "t", partition: 0, offset: 99, metadata: "" }]
      }))))
      expect(Either.isLeft(fenced) && fenced.left._tag).toBe("IllegalGeneration")
      const unknown = yield* Effect.either(during(ref.ask(new GP.OffsetCommit({
        groupId: "g",
        memberId: "nobody",
        generationId: 2,
        offsets: [{ topic: "t", partition: 0, offset: 98, metadata: "" }]
      }))))
      expect(Either.isLeft(unknown) && unknown.left._tag).toBe("UnknownMemberId")
      const fetched = yield* during(ref.ask(new GP.OffsetFetch({ groupId: "g", partitions: [{ topic: "t", partition: 0 }] })))
      expect(fetched[0]!.offset).toBe(42)

      // Crash the coordinator's broker: a new leader of the offsets partition loads the commit.
      yield* c.crash(info.brokerId)
      yield* advance(15_000)
      const next = yield* coordinatorOf(c, client, "g")
      expect(next.info.brokerId).not.toBe(info.brokerId)
      const after = yield* during(next.ref.ask(new GP.OffsetFetch({ groupId: "g", partitions: [{ topic: "t", partition: 0 }] })))
      expect(after[0]!.offset).toBe(42)
    }).pipe(Effect.provide(network)))
})
