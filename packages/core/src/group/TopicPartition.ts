/**
 * A topic-partition: the unit a consumer group hands out to its members.
 */
import { Order, Schema } from "effect"

/** A topic name and a partition number within it. */
export class TopicPartition extends Schema.Class<TopicPartition>("TopicPartition")({
  topic: Schema.String,
  partition: Schema.Int.pipe(Schema.nonNegative())
}) {}

/** Builds a topic-partition. */
export const make = (topic: string, partition: number): TopicPartition => new TopicPartition({ topic, partition })

/** Orders by topic name, then partition number (Kafka's sort for assignors). */
export const order: Order.Order<TopicPartition> = Order.combine(
  Order.mapInput(Order.string, (tp: TopicPartition) => tp.topic),
  Order.mapInput(Order.number, (tp: TopicPartition) => tp.partition)
)

/** A string key, unique per topic-partition, for maps and sets. */
export const key = (tp: { readonly topic: string; readonly partition: number }): string =>
  `${tp.topic}\u0000${tp.partition}`

/** Sorts a copy of the list with {@link order}. */
export const sort = (tps: Iterable<TopicPartition>): Array<TopicPartition> => Array.from(tps).sort(order)

/** Every partition of every topic in `partitionsPerTopic` whose topic is in `topics`, sorted. */
export const allOf = (
  topics: Iterable<string>,
  partitionsPerTopic: ReadonlyMap<string, number>
): Array<TopicPartition> => {
  const out: Array<TopicPartition> = []
  for (const topic of Array.from(new Set(topics)).sort()) {
    const count = partitionsPerTopic.get(topic) ?? 0
    for (let partition = 0; partition < count; partition++) out.push(make(topic, partition))
  }
  return out
}
