/**
 * The pure rules of `SimNetwork`: the open link, delay sampling and the partition shapes.
 *
 * @internal
 */
import type { NodeId as Id } from "@fiberlog/core"
import type { Delay, Link, LinkRule } from "../SimNetwork.js"

type NodeId = Id.NodeId

/** The rule of a link nobody touched. */
export const open: LinkRule = {
  blocked: false,
  dropProbability: 0,
  duplicateProbability: 0,
  delay: undefined,
  reorderWindowMs: 0,
  held: false
}

/** The directed links a partition into `groups` blocks: every pair in different groups, both ways. */
export const partitionLinks = (groups: ReadonlyArray<ReadonlyArray<NodeId>>): ReadonlyArray<Link> => {
  const links: Array<Link> = []
  groups.forEach((group, i) =>
    groups.forEach((other, j) => {
      if (i === j) return
      for (const from of group) for (const to of other) if (from !== to) links.push({ from, to })
    })
  )
  return links
}

/** The directed links a bridge blocks: `left` ↔ `right`, never through `bridge`. */
export const bridgeLinks = (
  left: ReadonlyArray<NodeId>,
  bridge: NodeId,
  right: ReadonlyArray<NodeId>
): ReadonlyArray<Link> =>
  partitionLinks([left.filter((n) => n !== bridge), right.filter((n) => n !== bridge)])

/**
 * The directed links Jepsen's perfect majorities ring blocks: over the ring `nodes`, node at the
 * middle of each window of `⌊n/2⌋+1` consecutive nodes hears only that window. Every node hears
 * a majority (itself included) and no two hear the same one (n ≥ 4; n = 3 gives a one-way cycle).
 */
export const majoritiesRingLinks = (nodes: ReadonlyArray<NodeId>): ReadonlyArray<Link> => {
  const n = nodes.length
  if (n < 3) return []
  const m = Math.floor(n / 2) + 1
  const links: Array<Link> = []
  for (let start = 0; start < n; start++) {
    const window = Array.from({ length: m }, (_, k) => nodes[(start + k) % n]!)
    const to = window[Math.floor(m / 2)]!
    for (const from of nodes) if (!window.includes(from)) links.push({ from, to })
  }
  return links
}

/** A delay in whole milliseconds from `delay` and a uniform draw `u` in [0, 1). Pure. */
export const sampleDelayMs = (delay: Delay, u: number): number => {
  switch (delay._tag) {
    case "Fixed":
      return Math.max(0, Math.round(delay.ms))
    case "Uniform":
      return Math.max(0, Math.floor(delay.minMs + u * (delay.maxMs - delay.minMs + 1)))
    case "Exponential":
      return Math.min(delay.maxMs, Math.max(0, Math.round(-delay.meanMs * Math.log(1 - u))))
  }
}

