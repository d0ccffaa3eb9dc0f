/**
 * Parsing the addresses a server or client is given on its command line: `host:port`,
 * `id=host:port` lists, and the node ids they stand for. Pure.
 *
 * @internal
 */
import { Data, Either } from "effect"
import type * as TcpNetwork from "../../TcpNetwork.js"

/** An address or address list that does not parse. */
export class InvalidAddress extends Data.TaggedError("InvalidAddress")<{
  readonly input: string
  readonly detail: string
}> {
  override get message() {
    return `invalid address "${this.input}": ${this.detail}`
  }
}

/** A broker's node id (as in `EmbeddedCluster`). */
export const brokerNodeId = (brokerId: number): string => `broker-${brokerId}`

/** The controller's node id (as in `EmbeddedCluster`). */
export const controllerNodeId = "controller"

/** Parses `host:port` (port 0..65535; `[v6]:port` accepted). */
export const parseAddress = (input: string): Either.Either<TcpNetwork.Address, InvalidAddress> => {
  const text = input.trim()
  const colon = text.lastIndexOf(":")
  if (colon <= 0) return Either.left(new InvalidAddress({ input, detail: "expected host:port" }))
  let host = text.slice(0, colon)
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1)
  const portText = text.slice(colon + 1)
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || !Number.isInteger(port) || port < 0 || port > 65_535) {
    return Either.left(new InvalidAddress({ input, detail: "the port must be 0..65535" }))
  }
  if (host.length === 0 || host.length > 255) return Either.left(new InvalidAddress({ input, detail: "empty host" }))
  return Either.right({ host, port })
}

/** An `id=host:port` key: a broker id (`2`), or a node id (`broker-2`, `controller`). */
export const nodeIdOf = (key: string): Either.Either<string, InvalidAddress> => {
  const text = key.trim()
  if (/^\d+$/.test(text)) return Either.right(brokerNodeId(Number(text)))
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(text)) return Either.right(text)
  return Either.left(new InvalidAddress({ input: key, detail: "expected a broker id or a node id" }))
}

/**
 * Parses a comma-separated `id=host:port` list (`2=127.0.0.1:9102,controller=127.0.0.1:9100`)
 * into node ids and addresses. An empty string is an empty list.
 */
export const parsePeers = (
  input: string
): Either.Either<ReadonlyArray<readonly [string, TcpNetwork.Address]>, InvalidAddress> => {
  const out: Array<readonly [string, TcpNetwork.Address]> = []
  for (const part of input.split(",")) {
    if (part.trim().length === 0) continue
    const eq = part.indexOf("=")
    if (eq < 0) return Either.left(new InvalidAddress({ input: part, detail: "expected id=host:port" }))
    const id = nodeIdOf(part.slice(0, eq))
    if (Either.isLeft(id)) return Either.left(id.left)
    const address = parseAddress(part.slice(eq + 1))
    if (Either.isLeft(address)) return Either.left(address.left)
    out.push([id.right, address.right])
  }
  return Either.right(out)
}

/** Formats an address as `host:port`. */
export const format = (address: TcpNetwork.Address): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
