/**
 * Standard input as a stream of lines (for `fiberlog produce` without value arguments).
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import * as Readline from "node:readline"

/** The lines of stdin, without their line ends; empty lines are skipped. */
export const lines: Stream.Stream<string> = Stream.suspend(() =>
  Stream.fromAsyncIterable(
    Readline.createInterface({ input: process.stdin, crlfDelay: Infinity }),
    (error) => error
  ).pipe(Stream.orDie, Stream.filter((line) => line.length > 0))
)
