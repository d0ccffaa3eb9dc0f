/**
 * The cooperative-sticky assignment. Members arrive sorted; the result is deterministic.
 * Step 1 keeps valid owned partitions, step 2 deals free partitions to the least loaded,
 * step 3 moves partitions until balanced, step 4 holds back those another member still owns.
 */
import type { Assignment, Subscription } from "../Assignor.js"
import * as TopicPartition from "../TopicPartition.js"

type TP = TopicPartition.TopicPartition

/** The sticky, cooperative assignment of `sorted` members (already in Kafka's member order). */
export const assign = (sorted: ReadonlyArray<Subscription>, partitionsPerTopic: ReadonlyMap<string, number>): Assignment => {
  const subscribed = new Map(sorted.map((m) => [m.memberId, new Set(m.topics)]))
  const isValid = (tp: TP) => tp.partition < (partitionsPerTopic.get(tp.topic) ?? 0)

  // Who claims each partition now (a member listed twice is counted once).
  const claims = new Map<string, Set<string>>()
  for (const m of sorted) {
    for (const tp of m.ownedPartitions ?? []) {
      const k = TopicPartition.key(tp)
      const set = claims.get(k) ?? new Set<string>()
      set.add(m.memberId)
      claims.set(k, set)
    }
  }

  // 1. Keep what is owned, valid, subscribed and claimed by nobody else.
  const target = new Map<string, Map<string, TP>>(sorted.map((m) => [m.memberId, new Map()]))
  const taken = new Set<string>()
  for (const m of sorted) {
    for (const tp of m.ownedPartitions ?? []) {
      const k = TopicPartition.key(tp)
      if (!isValid(tp) || !subscribed.get(m.memberId)!.has(tp.topic) || claims.get(k)!.size !== 1) continue
      target.get(m.memberId)!.set(k, TopicPartition.make(tp.topic, tp.partition))
      taken.add(k)
    }
  }
  const keptAtStart = new Map(Array.from(target, ([id, tps]) => [id, new Set(tps.keys())]))

  // 2. Deal free partitions, in order, to the least-loaded subscribed member (ties: member order).
  for (const tp of TopicPartition.allOf(sorted.flatMap((m) => m.topics), partitionsPerTopic)) {
    const k = TopicPartition.key(tp)
    if (taken.has(k)) continue
    let best: string | undefined
    for (const m of sorted) {
      if (!subscribed.get(m.memberId)!.has(tp.topic)) continue
      if (best === undefined || target.get(m.memberId)!.size < target.get(best)!.size) best = m.memberId
    }
    if (best !== undefined) target.get(best)!.set(k, tp)
  }

  // 3. Move from fuller to emptier members while a move narrows a gap of two or more.
  // Each move lowers the sum of squared counts, so this ends.
  const ids = sorted.map((m) => m.memberId)
  for (;;) {
    const byLoad = [...ids].sort((a, b) => target.get(b)!.size - target.get(a)!.size || ids.indexOf(a) - ids.indexOf(b))
    const move = findMove(byLoad, target, subscribed, keptAtStart)
    if (move === undefined) break
    target.get(move.from)!.delete(move.key)
    target.get(move.to)!.set(move.key, move.tp)
  }

  // 4. Cooperative: hold back what another member (or several) still claims.
  const out: Assignment = new Map()
  for (const [id, tps] of target) {
    out.set(
      id,
      Array.from(tps, ([k, tp]) => ({ k, tp }))
        .filter(({ k }) => {
          const owners = claims.get(k)
          return owners === undefined || (owners.size === 1 && owners.has(id))
        })
        .map(({ tp }) => tp)
    )
  }
  return out
}

interface Move {
  readonly from: string
  readonly to: string
  readonly key: string
  readonly tp: TP
}

const findMove = (
  byLoad: ReadonlyArray<string>,
  target: ReadonlyMap<string, ReadonlyMap<string, TP>>,
  subscribed: ReadonlyMap<string, ReadonlySet<string>>,
  keptAtStart: ReadonlyMap<string, ReadonlySet<string>>
): Move | undefined => {
  for (const from of byLoad) {
    const fromTps = target.get(from)!
    for (let j = byLoad.length - 1; j >= 0; j--) {
      const to = byLoad[j]!
      if (target.get(to)!.size + 1 >= fromTps.size) break
      const topics = subscribed.get(to)!
      // Prefer a partition `from` did not own before this round (moving it costs nothing),
      // then the last one in order.
      const candidates = TopicPartition.sort(Array.from(fromTps.values()).filter((tp) => topics.has(tp.topic)))
      if (candidates.length === 0) continue
      const kept = keptAtStart.get(from)!
      const fresh = candidates.filter((tp) => !kept.has(TopicPartition.key(tp)))
      const tp = (fresh.length > 0 ? fresh : candidates)[(fresh.length > 0 ? fresh : candidates).length - 1]!
      return { from, to, key: TopicPartition.key(tp), tp }
    }
  }
  return undefined
}
