/**
 * The handshake, as a pure state machine: four frames, then the connection is open.
 *
 *   dialer                                 listener
 *   Hello {cluster, version, from, to, Nd} ─▶  checks cluster, version, `to` is itself
 *                                          ◀─ Welcome {node, Nl, proof_l}
 *   checks node, proof_l                    
 *   Proof {proof_d}                        ─▶  checks proof_d
 *                                          ◀─ Accepted
 *
 * With a shared secret, `proof_l = HMAC-SHA256(secret, "listener" | cluster | l | d | Nd | Nl)` and
 * `proof_d` the same with "dialer": each side answers the other's fresh challenge, so the secret is
 * never sent and a recorded proof cannot be replayed. Without a secret the proofs are null; a side
 * with a secret refuses a peer without one. Any refusal sends `Refused` and closes.
 *
 * @internal
 */
import type { NodeId as NodeIds } from "@fiberlog/core"
import { createHmac, timingSafeEqual } from "node:crypto"
import { HandshakeRefused, MalformedFrame, type RefusalReason } from "./errors.js"
import { type HandshakeFrame, type Hello, protocolVersion, type Refused } from "./wire.js"

type NodeId = NodeIds.NodeId

/** What a side knows before the handshake. */
export interface Config {
  readonly clusterId: string
  readonly self: NodeId
  readonly secret: Uint8Array | undefined
  readonly version: number
}

/** Where a handshake stands. */
export type State =
  | { readonly _tag: "AwaitHello"; readonly nonce: Uint8Array }
  | { readonly _tag: "AwaitWelcome"; readonly peer: NodeId; readonly nonce: Uint8Array }
  | {
    readonly _tag: "AwaitProof"
    readonly peer: NodeId
    readonly dialerNonce: Uint8Array
    readonly listenerNonce: Uint8Array
  }
  | { readonly _tag: "AwaitAccepted"; readonly peer: NodeId }

/** The next step after a frame: answer and wait, open the connection, or refuse. */
export type Step =
  | { readonly _tag: "Continue"; readonly send: HandshakeFrame; readonly next: State }
  | { readonly _tag: "Open"; readonly peer: NodeId; readonly send: HandshakeFrame | undefined }
  | {
    readonly _tag: "Fail"
    readonly error: HandshakeRefused | MalformedFrame
    readonly send: Refused | undefined
  }

/** The dialer's first frame and state. */
export const dial = (config: Config, peer: NodeId, nonce: Uint8Array): { send: Hello; state: State } => ({
  send: {
    _tag: "Hello",
    protocol: "fiberlog",
    version: config.version,
    clusterId: config.clusterId,
    from: config.self,
    to: peer,
    nonce
  },
  state: { _tag: "AwaitWelcome", peer, nonce }
})

/** The listener's state before the first frame. */
export const listen = (nonce: Uint8Array): State => ({ _tag: "AwaitHello", nonce })

/** HMAC-SHA256 binding the role, cluster, both node ids and both nonces. */
export const proof = (
  secret: Uint8Array,
  role: "dialer" | "listener",
  clusterId: string,
  listener: NodeId,
  dialer: NodeId,
  dialerNonce: Uint8Array,
  listenerNonce: Uint8Array
): Uint8Array => {
  const mac = createHmac("sha256", secret)
  mac.update(`fiberlog/${protocolVersion}/${role}\u0000${clusterId}\u0000${listener}\u0000${dialer}\u0000`)
  mac.update(dialerNonce)
  mac.update(listenerNonce)
  return new Uint8Array(mac.digest())
}

const sameMac = (a: Uint8Array | null, b: Uint8Array) => a !== null && a.length === b.length && timingSafeEqual(a, b)

const refuse = (reason: RefusalReason, detail: string): Step => ({
  _tag: "Fail",
  error: new HandshakeRefused({ side: "local", reason, detail }),
  send: { _tag: "Refused", reason, detail }
})

/** Advances the handshake by one received frame. */
export const step = (config: Config, state: State, frame: HandshakeFrame): Step => {
  if (frame._tag === "Refused") {
    return {
      _tag: "Fail",
      error: new HandshakeRefused({ side: "remote", reason: frame.reason, detail: frame.detail }),
      send: undefined
    }
  }
  switch (state._tag) {
    case "AwaitHello": {
      if (frame._tag !== "Hello") return refuse("protocol", `expected Hello, got ${frame._tag}`)
      if (frame.version !== config.version) {
        return refuse("version", `version ${frame.version}, expected ${config.version}`)
      }
      if (frame.clusterId !== config.clusterId) {
        return refuse("cluster-id", `cluster ${JSON.stringify(frame.clusterId)}, expected ${JSON.stringify(config.clusterId)}`)
      }
      if (frame.to !== config.self) return refuse("node-id", `dialled ${frame.to}, this is ${config.self}`)
      if (frame.from === config.self) return refuse("node-id", `dialer claims this node's id ${config.self}`)
      const mac = config.secret === undefined
        ? null
        : proof(config.secret, "listener", config.clusterId, config.self, frame.from, frame.nonce, state.nonce)
      return {
        _tag: "Continue",
        send: { _tag: "Welcome", version: config.version, node: config.self, nonce: state.nonce, proof: mac },
        next: { _tag: "AwaitProof", peer: frame.from, dialerNonce: frame.nonce, listenerNonce: state.nonce }
      }
    }
    case "AwaitWelcome": {
      if (frame._tag !== "Welcome") return refuse("protocol", `expected Welcome, got ${frame._tag}`)
      if (frame.version !== config.version) {
        return refuse("version", `version ${frame.version}, expected ${config.version}`)
      }
      if (frame.node !== state.peer) return refuse("node-id", `expected ${state.peer}, reached ${frame.node}`)
      if (config.secret === undefined) {
        return { _tag: "Continue", send: { _tag: "Proof", proof: null }, next: { _tag: "AwaitAccepted", peer: state.peer } }
      }
      const expected = proof(config.secret, "listener", config.clusterId, state.peer, config.self, state.nonce, frame.nonce)
      if (!sameMac(frame.proof, expected)) {
        return refuse("auth", frame.proof === null ? "listener has no secret" : "listener proof is wrong")
      }
      return {
        _tag: "Continue",
        send: {
          _tag: "Proof",
          proof: proof(config.secret, "dialer", config.clusterId, state.peer, config.self, state.nonce, frame.nonce)
        },
        next: { _tag: "AwaitAccepted", peer: state.peer }
      }
    }
    case "AwaitProof": {
      if (frame._tag !== "Proof") return refuse("protocol", `expected Proof, got ${frame._tag}`)
      if (config.secret !== undefined) {
        const expected = proof(
          config.secret,
          "dialer",
          config.clusterId,
          config.self,
          state.peer,
          state.dialerNonce,
          state.listenerNonce
        )
        if (!sameMac(frame.proof, expected)) {
          return refuse("auth", frame.proof === null ? "a secret is required" : "dialer proof is wrong")
        }
      }
      return { _tag: "Open", peer: state.peer, send: { _tag: "Accepted" } }
    }
    case "AwaitAccepted":
      if (frame._tag !== "Accepted") return refuse("protocol", `expected Accepted, got ${frame._tag}`)
      return { _tag: "Open", peer: state.peer, send: undefined }
  }
}
