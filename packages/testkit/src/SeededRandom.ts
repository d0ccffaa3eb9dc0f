/**
 * Seeded randomness split into named streams. A test has one seed; every subsystem (a link's
 * drops, a link's delays, a workload, a nemesis) draws from its own stream, derived from the seed
 * and the stream's name, so an extra draw in one place never shifts the draws of another.
 *
 * @since 0.1.0
 */
import { Effect, Hash, Random, Utils } from "effect"

/** A test's seed: a number, or any string (printed on failure, pasted back to replay). */
export type Seed = number | string

/** Limit on the length of a stream name, in characters (names are hashed per stream). */
export const maxStreamNameLength = 1024

/**
 * The 32-bit sub-seed of stream `stream` under `seed`: FNV-1a over `${seed}:${stream}`, then
 * MurmurHash3's finaliser so that neighbouring names give unrelated seeds. Pure.
 */
export const subSeed = (seed: Seed, stream: string): number => {
  const text = `${seed}:${stream.slice(0, maxStreamNameLength)}`
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A seed and its named streams, each a separate Effect `Random`, created on first use. */
export interface SeededRandom {
  readonly seed: Seed
  /** The stream named `name` (the same `Random`, and so the same sequence position, on every call). */
  readonly stream: (name: string) => Random.Random
}

/** Makes the streams of `seed`. Two calls with one seed give identical, independent sequences. */
export const make = (seed: Seed): SeededRandom => {
  const streams = new Map<string, Random.Random>()
  return {
    seed,
    stream: (name) => {
      let random = streams.get(name)
      if (random === undefined) {
        random = Random.make(subSeed(seed, name))
        streams.set(name, random)
      }
      return random
    }
  }
}

/** A fresh `Random` for stream `name` of `seed` (not shared: it starts at the stream's beginning). */
export const random = (seed: Seed, name: string): Random.Random => Random.make(subSeed(seed, name))

/**
 * A fresh synchronous generator for stream `name` of `seed`: `number()` gives the sequence
 * `random(seed, name)`'s `next` gives (Effect's `Random.make` is this generator on the hashed
 * seed), for a caller that must draw without running an effect (the simulated network, per message).
 */
export const generator = (seed: Seed, name: string): Utils.PCGRandom => new Utils.PCGRandom(Hash.hash(subSeed(seed, name)))

/** Runs `effect` with Effect's `Random` service replaced by stream `name` of `seed`. */
export const withStream = (seed: Seed, name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withRandom(effect, random(seed, name))
