/** Usage text, argument parsing and the error type for mistakes made by the caller. */
import { parseArgs, type ParseArgsConfig } from "node:util";

export const USAGE = `usage: lockstep <command> [options]

commands:
  start [--config F] [--duration S] [--json] [--data DIR] [--ephemeral] [--dashboard-port N] [--no-dashboard] [--shards N]
                                           local cluster (sequencer + replicas as processes) with demo traffic and a live dashboard;
                                           --shards N (1-8): N such groups, traffic routed by a shard map, a dashboard per shard
  dashboard --nodes URL[,URL…] [--port N] [--instrument I]
                                           live dashboard for a running cluster (each node's http://host:port)
  sequencer [--id ID] [--config F] [--data DIR] [--port N] [--clock-offset-ms X] [--clock-drift-ppm D]
                                           one sequencer; with an ha section, node ID (leader or standby, via etcd)
  replica --id ID [--config F] [--data DIR] [--port N] [--sequencer URL[,URL…]] [--clock-offset-ms X] [--clock-drift-ppm D]
  client (--trade URL | --shard-map FILE | --shards-etcd URL[,URL…]) --account N [--feed URL[,URL…]] [--instrument I] [--json]
                                           trading client: reads commands from stdin (buy 10 @ 100, cancel 42, book, …);
                                           with a shard map, sent to the leader of I's shard, feed from that shard's replicas
  replay --format jsonl FILE [--trades-out F] [--book-out F] [--strict] [--json]
  replay --format lobster MESSAGE.csv [--check-book ORDERBOOK.csv] [--explain] [--strict] [--json]
  bench engine [--quick] [--json]          engine vs nodejs-order-book, same run
  bench e2e [--rate R] [--duration S] [--warmup S] [--replicas N] [--clients C] [--repeat K] [--profile DIR] [--gateway] [--json]
                                           open-loop order→ack/fill: bare uWS relay floor, NATS JetStream peer, Lockstep; ratios,
                                           CPU µs per order per process, Lockstep's hops; --profile: a .cpuprofile per node
  bench sweep [--rates R1,R2,…] [--p99-ms 5] [--floor-p99-ms 10] [--ratio-p99 2] [--duration S] [--warmup S] [--repeat K] [--json]
                                           steps the offered rate up, floor and Lockstep at each: the highest rate under the p99
                                           limit, and the floor's capacity against Lockstep's (its p99 within 2× the floor's)
  bench slow-consumers [--rate R] [--duration S] [--stalled N] [--flood F] [--json]
                                           order→fill of a well-behaved client: quiet vs N stalled subscribers + F× flood
  stats URL… [--once] [--json]             live table across nodes: seq, lag, clock offset ± bound, one-way raw vs compensated
  drill skew [--offset-ms 250,-40,3] [--drift-ppm 40,-25,10] [--duration S] [--rate R] [--results DIR] [--json]
                                           replicas with skewed clocks: estimated vs injected offset, one-way raw/compensated/true
  drill geo [--config F] [--duration S] [--rate R] [--results DIR] [--json]
                                           regions simulated by latency proxies: lag, offset vs injected vs asymmetry/2, order→fill
  drill replica-kill [--kills K] [--rate R] [--json]       kill -9 replicas under load; recovery time, divergence, lost acks
  drill client-failover [--rate R] [--json]                 a client's replica dies; reports exactly once vs the sequencer's log
  drill sequencer-restart [--kills K] [--fsync batch|always] [--json]   kill -9 the sequencer; no acked order lost
  drill sequencer-failover [--kills K] [--rate R] [--wipe] [--json]  kill -9 the leader; a standby takes over (etcd)
  drill shards [--duration S] [--rate R] [--results DIR] [--json]   2 → 3 shards under load, rebalance, kill s1's leader
  shards show --etcd URL[,URL…] [--json]   the shard map in etcd: version, shards (weight, endpoints, instruments), pins
  shards init --etcd URL[,URL…] --config F the first shard map, from F's sharding section and instruments (refused if a map exists)
  shards plan --etcd URL[,URL…] (--add S [--weight W] | --remove S) [--json]
                                           the instruments that would move (instrument, from, to) and the share moved; nothing moves
  shards move --etcd URL[,URL…] --inst N --to S --account A [--key ID --secret-env VAR] [--abort] [--json]
                                           move instrument N live to shard S (halt, export, import, map, release) as the
                                           operator account A; the book hash before and after; --abort undoes an unfinished move
  shards add --etcd URL[,URL…] --id S --trade URL[,URL…] --feed URL[,URL…] [--weight W] [--json]
                                           shard S (its group's /trade and /feed URLs) in the map's next version, holding nothing yet
  shards rebalance --etcd URL[,URL…] --account A [--key ID --secret-env VAR] [--json]
                                           move every instrument that is off the rule to where it puts it, one live move at a time
  shards drain --etcd URL[,URL…] --id S --account A [--key ID --secret-env VAR] [--json]
                                           move shard S's instruments to the rule over the other shards, then remove S from the map
  shards weight --etcd URL[,URL…] --id S --weight W [--json]
  shards pin --etcd URL[,URL…] --inst N --to S [--json]
  shards unpin --etcd URL[,URL…] --inst N [--json]
                                           S's weight, or N's pin, in the map's next version; nothing moves: shards rebalance moves
                                           what the rule now puts elsewhere
  gateway (--shards-etcd URL[,URL…] | --shard-map FILE) [--port N] [--host H] [--config F]
                                           one endpoint (/trade, /feed) in front of every shard: routes by instrument, merges
                                           reports and books, order ids unique across shards; F's auth section checks logins
  relay seq|replica|nats-replica [--port N] [--upstream URL] [--nats URL] [--reports]
                                           the floor's relays and the NATS peer's consumers (started by bench e2e)
  help                                     this text
`;

/** A mistake in how the command was called or in its input: shown as one line, no stack. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export function parse<T extends ParseArgsConfig["options"]>(args: string[], options: T): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UserError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
}

/** A numeric flag: its value, or `fallback` when absent; anything outside (min, max] (or not an integer, if asked) is a usage error. */
export function numberFlag(v: Record<string, string | boolean | undefined>, name: string, fallback: number, min: number, max: number, integer = false): number {
  const x = v[name] === undefined ? fallback : Number(v[name]);
  if (!Number.isFinite(x) || x <= min || x > max || (integer && !Number.isInteger(x))) {
    throw new UserError(`--${name} must be ${integer ? "an integer" : "a number"} in (${min}, ${max}], not "${String(v[name])}"`, 2);
  }
  return x;
}

/** A --port value: 0 (any free port) to 65535, or `fallback` when absent. */
export function portArg(v: string | boolean | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UserError(`--port must be 0..65535, not "${String(v)}"`, 2);
  return n;
}
