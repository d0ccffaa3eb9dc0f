import { describe, expect, it } from "@effect/vitest"
import * as Assignor from "../../src/group/Assignor.js"
import * as Group from "../../src/group/Group.js"
import * as GroupState from "../../src/group/GroupState.js"
import * as TopicPartition from "../../src/group/TopicPartition.js"
import { errorTag, joined, Sim, success } from "./harness.js"

const { Event } = GroupState
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b))
const partitionsPerTopic = new Map([["orders", 6]])
const meta = enc({ topics: ["orders"] })

/** What a leader does with its Joined answer: run the assignor, encode each member's share. */
const leaderAssign = (res: ReturnType<typeof joined>): Array<GroupState.MemberAssignment> => {
  const assignor = Assignor.builtIn.get(res.protocolName)!
  const subs = res.members.map((m) => ({ memberId: m.memberId, topics: dec(m.metadata).topics as Array<string> }))
  return Array.from(assignor.assign(subs, partitionsPerTopic), ([memberId, tps]) => ({
    memberId,
    assignment: enc(tps.map((tp) => `${tp.topic}-${tp.partition}`))
  }))
}

/** Joins `n` members during the initial delay, syncs them, and returns their ids and generation. */
const stableGroup = (sim: Sim, n: number, protocol = "range") => {
  const keys = Array.from({ length: n }, () =>
    sim.join({ protocols: [{ name: protocol, metadata: meta }] }))
  sim.advance(sim.group.config.initialRebalanceDelayMs)
  return syncAll(sim, keys)
}

/** Syncs every member whose join just completed (leader with assignments). */
const syncAll = (sim: Sim, joinKeys: ReadonlyArray<number>) => {
  const answers = joinKeys.map((k) => joined(sim.reply(k)))
  const leader = answers.find((a) => a.memberId === a.leaderId)!
  const syncKeys = answers.map((a) => sim.sync(a.memberId, a.generationId, a === leader ? leaderAssign(a) : []))
  const assignments = new Map(answers.map((a, i) => {
    const s = success(sim.reply(syncKeys[i]!))
    if (s._tag !== "Synced") throw new Error("not synced")
    return [a.memberId, dec(s.assignment) as Array<string>]
  }))
  return { ids: answers.map((a) => a.memberId), generationId: leader.generationId, assignments }
}

/** Every live member rejoins with its id (as consumers do on RebalanceInProgress), then all sync. */
const rejoinAll = (sim: Sim, ids: ReadonlyArray<string>) =>
  syncAll(sim, ids.map((memberId) => sim.join({ memberId, protocols: [{ name: "range", metadata: meta }] })))

const allPartitions = (assignments: Map<string, Array<string>>) => Array.from(assignments.values()).flat().sort()

describe("Group: join, sync, heartbeat", () => {
  it("three members joining during the initial delay reach Stable in generation 1", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 3_000 })
    const k1 = sim.join({ protocols: [{ name: "range", metadata: meta }] })
    sim.advance(1_000)
    const k2 = sim.join({ protocols: [{ name: "range", metadata: meta }] })
    sim.advance(1_000)
    const k3 = sim.join({ protocols: [{ name: "range", metadata: meta }] })
    expect(sim.group._tag).toBe("PreparingRebalance")
    sim.advance(2_999) // each new member pushed the end of the delay back
    expect(sim.reply(k1)).toBeUndefined()
    sim.advance(1)
    expect(sim.group._tag).toBe("CompletingRebalance")
    const a1 = joined(sim.reply(k1))
    expect([a1.generationId, a1.leaderId, a1.protocolName, a1.members.length]).toEqual([1, "c-0", "range", 3])
    expect(joined(sim.reply(k2)).members).toEqual([])
    const { assignments, generationId } = syncAll(sim, [k1, k2, k3])
    expect(sim.group._tag).toBe("Stable")
    expect(generationId).toBe(1)
    expect(Object.fromEntries(assignments)).toEqual({
      "c-0": ["orders-0", "orders-1"],
      "c-1": ["orders-2", "orders-3"],
      "c-2": ["orders-4", "orders-5"]
    })
    expect(success(sim.reply(sim.heartbeat("c-1", 1)))._tag).toBe("HeartbeatOk")
    expect(Group.describe(sim.group).members.map((m) => m.memberId)).toEqual(["c-0", "c-1", "c-2"])
  })

  it("with initialRebalanceDelayMs 0 the first member completes at once; a second one bumps the generation", () => {
    const sim = new Sim()
    const k1 = sim.join()
    expect(joined(sim.reply(k1)).generationId).toBe(1)
    const first = syncAll(sim, [k1])
    const k2 = sim.join()
    expect(sim.group._tag).toBe("PreparingRebalance")
    expect(errorTag(sim.reply(sim.heartbeat(first.ids[0]!, 1)))).toBe("RebalanceInProgress")
    const k1b = sim.join({ memberId: first.ids[0]! })
    const second = syncAll(sim, [k1b, k2])
    expect(second.generationId).toBe(2)
    expect(sim.group._tag).toBe("Stable")
  })

  it("heartbeats answer RebalanceInProgress while completing, and a rejoin then changes nothing", () => {
    const sim = new Sim()
    const k1 = sim.join()
    const a = joined(sim.reply(k1))
    expect(errorTag(sim.reply(sim.heartbeat(a.memberId, 1)))).toBe("RebalanceInProgress")
    const again = joined(sim.reply(sim.join({ memberId: a.memberId })))
    expect(again.generationId).toBe(1)
    expect(sim.group._tag).toBe("CompletingRebalance")
  })

  it("chooses the protocol by vote among those all members support", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const p = (...names: Array<string>) => names.map((name) => ({ name, metadata: meta }))
    const k = [
      sim.join({ protocols: p("roundrobin", "range", "cooperative-sticky") }),
      sim.join({ protocols: p("range", "roundrobin") }),
      sim.join({ protocols: p("range", "roundrobin") })
    ]
    expect(errorTag(sim.reply(sim.join({ protocols: p("cooperative-sticky") })))).toBe("InconsistentGroupProtocol")
    sim.advance(100)
    expect(k.map((key) => joined(sim.reply(key)).protocolName)).toEqual(["range", "range", "range"])
  })

  it("rejects session timeouts outside the configured range", () => {
    const sim = new Sim({ minSessionTimeoutMs: 6_000, maxSessionTimeoutMs: 60_000 })
    expect(errorTag(sim.reply(sim.join({ sessionTimeoutMs: 1_000 })))).toBe("InvalidSessionTimeout")
    expect(sim.group.members.size).toBe(0)
  })
})

describe("Group: members leaving and going silent", () => {
  it("a leaving member triggers a rebalance that hands its partitions to the others", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const before = stableGroup(sim, 3)
    const gone = before.ids[2]!
    expect(success(sim.reply(sim.request((replyTo) => Event.LeaveGroup({ replyTo, memberId: gone, groupInstanceId: undefined }))))._tag).toBe("Left")
    expect(sim.group._tag).toBe("PreparingRebalance")
    expect(errorTag(sim.reply(sim.heartbeat(before.ids[0]!, 1)))).toBe("RebalanceInProgress")
    const after = rejoinAll(sim, before.ids.slice(0, 2))
    expect(after.generationId).toBe(2)
    expect(allPartitions(after.assignments)).toEqual(allPartitions(before.assignments))
    expect(after.assignments.has(gone)).toBe(false)
    expect(errorTag(sim.reply(sim.heartbeat(gone, 2)))).toBe("UnknownMemberId")
  })

  it("a member silent past its session timeout is removed and its partitions reassigned", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const before = stableGroup(sim, 3)
    const [a, b, silent] = before.ids as [string, string, string]
    for (let i = 0; i < 3; i++) {
      sim.advance(3_000)
      sim.heartbeat(a, 1)
      sim.heartbeat(b, 1)
    }
    expect(sim.group._tag).toBe("Stable") // 9 s: still within silent's 10 s session
    sim.advance(1_100)
    expect(sim.group._tag).toBe("PreparingRebalance")
    expect(sim.group.members.has(silent)).toBe(false)
    const after = rejoinAll(sim, [a, b])
    expect(after.generationId).toBe(2)
    expect(allPartitions(after.assignments)).toEqual(allPartitions(before.assignments))
  })

  it("a member that does not rejoin within the rebalance timeout is removed", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const before = stableGroup(sim, 2)
    const kNew = sim.join({ rebalanceTimeoutMs: 5_000 })
    const kA = sim.join({ memberId: before.ids[0]! })
    for (let t = 0; t < 30_000; t += 3_000) {
      // Alive (heartbeats answer RebalanceInProgress), but never rejoins.
      expect(errorTag(sim.reply(sim.heartbeat(before.ids[1]!, 1)))).toBe("RebalanceInProgress")
      sim.advance(3_000)
    }
    expect(sim.group._tag).toBe("CompletingRebalance")
    const after = syncAll(sim, [kA, kNew])
    expect(after.generationId).toBe(2)
    expect(after.ids).not.toContain(before.ids[1])
    expect(allPartitions(after.assignments)).toEqual(allPartitions(before.assignments))
  })

  it("the last member leaving empties the group and bumps the generation", () => {
    const sim = new Sim()
    const { ids } = stableGroup(sim, 1)
    sim.request((replyTo) => Event.LeaveGroup({ replyTo, memberId: ids[0]!, groupInstanceId: undefined }))
    expect(sim.group._tag).toBe("Empty")
    expect(sim.group.generationId).toBe(2)
    expect(sim.timers.size).toBe(0)
  })
})

describe("Group: offsets", () => {
  const fetchAll = (sim: Sim) => {
    const r = success(sim.reply(sim.request((replyTo) => Event.OffsetFetch({ replyTo, partitions: undefined }))))
    return r._tag === "Fetched" ? r.offsets.map((o) => [o.topic, o.partition, o.offset]) : []
  }

  it("a member's commit is persisted, then fetched as the next offset to read", () => {
    const sim = new Sim()
    const { ids, generationId } = stableGroup(sim, 1)
    expect(success(sim.reply(sim.commit(ids[0]!, generationId, [{ topic: "orders", partition: 0, offset: 42 }])))._tag).toBe("Committed")
    expect(fetchAll(sim)).toEqual([["orders", 0, 42]])
    const one = success(sim.reply(sim.request((replyTo) =>
      Event.OffsetFetch({ replyTo, partitions: [TopicPartition.make("orders", 0), TopicPartition.make("orders", 1)] }))))
    expect(one._tag === "Fetched" && one.offsets.map((o) => o.offset)).toEqual([42, -1])
    // The committed leader epoch (KIP-320) travels with the offset when the member sends it.
    sim.request((replyTo) =>
      Event.OffsetCommit({
        replyTo,
        memberId: ids[0]!,
        groupInstanceId: undefined,
        generationId,
        offsets: [{ topic: "orders", partition: 1, offset: 7, metadata: "", leaderEpoch: 3 }]
      }))
    const both = success(sim.reply(sim.request((replyTo) =>
      Event.OffsetFetch({ replyTo, partitions: [TopicPartition.make("orders", 0), TopicPartition.make("orders", 1)] }))))
    expect(both._tag === "Fetched" && both.offsets.map((o) => o.leaderEpoch)).toEqual([undefined, 3])
  })

  it("stale generation and unknown member commits are refused and change nothing", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const before = stableGroup(sim, 2)
    sim.commit(before.ids[0]!, 1, [{ topic: "orders", partition: 0, offset: 5 }])
    sim.request((replyTo) => Event.LeaveGroup({ replyTo, memberId: before.ids[1]!, groupInstanceId: undefined }))
    rejoinAll(sim, [before.ids[0]!])
    const state = sim.group
    const persists = sim.outputs.filter((o) => o._tag === "PersistOffsets").length
    expect(errorTag(sim.reply(sim.commit(before.ids[0]!, 1, [{ topic: "orders", partition: 0, offset: 99 }])))).toBe("IllegalGeneration")
    expect(errorTag(sim.reply(sim.commit(before.ids[1]!, 2, [{ topic: "orders", partition: 3, offset: 99 }])))).toBe("UnknownMemberId")
    expect(errorTag(sim.reply(sim.commit("", -1, [{ topic: "orders", partition: 3, offset: 99 }])))).toBe("UnknownMemberId")
    expect(sim.group).toBe(state)
    expect(sim.outputs.filter((o) => o._tag === "PersistOffsets").length).toBe(persists)
    expect(fetchAll(sim)).toEqual([["orders", 0, 5]])
  })

  it("commits are refused while the group awaits its assignment, allowed while preparing", () => {
    const sim = new Sim()
    const k = sim.join()
    const a = joined(sim.reply(k))
    expect(errorTag(sim.reply(sim.commit(a.memberId, 1, [{ topic: "orders", partition: 0, offset: 1 }])))).toBe("RebalanceInProgress")
    syncAll(sim, [k])
    sim.join() // a second member: PreparingRebalance, generation still 1
    expect(success(sim.reply(sim.commit(a.memberId, 1, [{ topic: "orders", partition: 0, offset: 7 }])))._tag).toBe("Committed")
  })

  it("a standalone consumer (generation -1, no member id) commits to an Empty group", () => {
    const sim = new Sim()
    expect(success(sim.reply(sim.commit("", -1, [{ topic: "orders", partition: 2, offset: 10 }])))._tag).toBe("Committed")
    expect(sim.group._tag).toBe("Empty")
    expect(Group.committed(sim.group, "orders", 2)?.offset).toBe(10)
  })

  it("refuses negative offsets and oversized metadata", () => {
    const sim = new Sim({ maxMetadataBytes: 4 })
    expect(errorTag(sim.reply(sim.commit("", -1, [{ topic: "t", partition: 0, offset: -5 }])))).toBe("InvalidCommitOffset")
    const big = sim.request((replyTo) =>
      Event.OffsetCommit({ replyTo, memberId: "", groupInstanceId: undefined, generationId: -1, offsets: [{ topic: "t", partition: 0, offset: 1, metadata: "12345" }] }))
    expect(errorTag(sim.reply(big))).toBe("OffsetMetadataTooLarge")
    expect(sim.group.offsets.size).toBe(0)
  })
})

describe("Group: static membership", () => {
  const staticJoin = (sim: Sim, groupInstanceId: string) => sim.join({ groupInstanceId, protocols: [{ name: "range", metadata: meta }] })

  it("a static member restarting within the session timeout keeps its assignment without a rebalance", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const keys = [staticJoin(sim, "i-a"), staticJoin(sim, "i-b")]
    sim.advance(100)
    const before = syncAll(sim, keys)
    const oldB = before.ids[1]!
    sim.advance(5_000) // restart: silent for 5 s of its 10 s session
    const k = staticJoin(sim, "i-b")
    const res = joined(sim.reply(k))
    expect(res.generationId).toBe(before.generationId)
    expect(res.memberId).not.toBe(oldB)
    expect(sim.group._tag).toBe("Stable")
    const s = success(sim.reply(sim.sync(res.memberId, res.generationId)))
    expect(s._tag === "Synced" && dec(s.assignment)).toEqual(before.assignments.get(oldB))
    // The old incarnation is fenced.
    const hb = sim.request((replyTo) => Event.Heartbeat({ replyTo, memberId: oldB, groupInstanceId: "i-b", generationId: 1 }))
    expect(errorTag(sim.reply(hb))).toBe("FencedInstanceId")
    expect(success(sim.reply(sim.heartbeat(before.ids[0]!, 1)))._tag).toBe("HeartbeatOk")
    expect(sim.group.generationId).toBe(1)
  })

  it("a static member restarting after its session expired causes a rebalance", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 100 })
    const keys = [staticJoin(sim, "i-a"), staticJoin(sim, "i-b")]
    sim.advance(100)
    const before = syncAll(sim, keys)
    for (let i = 0; i < 4; i++) {
      sim.advance(3_000)
      sim.heartbeat(before.ids[0]!, 1)
    }
    expect(sim.group._tag).toBe("PreparingRebalance")
    const k = staticJoin(sim, "i-b")
    const kA = sim.join({ memberId: before.ids[0]!, groupInstanceId: "i-a", protocols: [{ name: "range", metadata: meta }] })
    expect(syncAll(sim, [kA, k]).generationId).toBe(2)
  })
})

describe("Group: unload", () => {
  it("parked requests get NotCoordinator and the group is Dead", () => {
    const sim = new Sim({ initialRebalanceDelayMs: 1_000 })
    const k = sim.join()
    sim.feed(Event.Unload())
    expect(errorTag(sim.reply(k))).toBe("NotCoordinator")
    expect(sim.group._tag).toBe("Dead")
    expect(sim.timers.size).toBe(0)
    expect(errorTag(sim.reply(sim.join()))).toBe("CoordinatorNotAvailable")
  })
})

describe("Group: the generation is durable before anyone owns partitions in it", () => {
  it("SyncGroup answers wait for the generation write; a failed write fails them and rebalances", () => {
    const sim = new Sim()
    sim.holdGroupWrites = true
    const keys = [sim.join({ protocols: [{ name: "range", metadata: meta }] })]
    const a = joined(sim.reply(keys[0]!))
    const leaderSync = sim.sync(a.memberId, a.generationId, leaderAssign(a))
    expect(sim.group._tag).toBe("Stable")
    expect(sim.reply(leaderSync)).toBeUndefined() // parked until the write is acknowledged
    expect(sim.heldGroupWrites).toEqual([1])
    sim.feed(Event.GroupPersisted({ generationId: 1 }))
    expect(success(sim.reply(leaderSync))._tag).toBe("Synced")

    // Generation 2: the write fails, so the member's sync fails and the group rebalances.
    const k2 = sim.join({ protocols: [{ name: "range", metadata: meta }] })
    const again = sim.join({ memberId: a.memberId, protocols: [{ name: "range", metadata: meta }] })
    const [x, y] = [joined(sim.reply(again)), joined(sim.reply(k2))]
    expect(x.generationId).toBe(2)
    const leader = x.memberId === x.leaderId ? x : y
    const follower = leader === x ? y : x
    const s1 = sim.sync(follower.memberId, 2, [])
    const s2 = sim.sync(leader.memberId, 2, leaderAssign(leader))
    expect([sim.reply(s1), sim.reply(s2)]).toEqual([undefined, undefined])
    sim.feed(Event.GroupPersistFailed({ generationId: 2 }))
    expect([errorTag(sim.reply(s1)), errorTag(sim.reply(s2))]).toEqual(["CoordinatorNotAvailable", "CoordinatorNotAvailable"])
    expect(sim.group._tag).toBe("PreparingRebalance")
  })

  it("a loaded generation record makes the next generation follow it; member ids carry the tag", () => {
    const loaded = Group.loadGeneration(Group.make("g", { initialRebalanceDelayMs: 0 }, "e7-"), 41, 12)
    expect([loaded._tag, loaded.generationId, loaded.persistedGeneration]).toEqual(["Empty", 41, 41])
    const step = Group.step(
      loaded,
      Event.JoinGroup({
        replyTo: 0,
        memberId: "",
        groupInstanceId: undefined,
        clientId: "c",
        protocolType: "consumer",
        protocols: [{ name: "range", metadata: meta }],
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000
      }),
      0
    )
    const reply = step.outputs.find((o) => o._tag === "Reply")!
    expect(reply._tag === "Reply" && joined(reply.result)).toMatchObject({ generationId: 42, memberId: "c-e7-12" })
    // An older record replayed later changes nothing.
    expect(Group.loadGeneration(loaded, 40, 3)).toBe(loaded)
  })
})
