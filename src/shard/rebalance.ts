/**
 * Bringing the map back to the rule (docs/scaling.md, "lockstep shards rebalance"): every
 * instrument that is not where the placement rule puts it is moved there, one live move at a
 * time (./move.ts), in ascending instrument id. After `lockstep shards add` these are the
 * instruments the rule now gives the new shard (about its weight's share, taken from every old
 * shard); after a hand-written map, whatever it put elsewhere.
 *
 * One move at a time: each halts one instrument for its own duration only, and a failure stops
 * the rebalance with every earlier move done and the failed one undone or finishable as a
 * single move says (MoveError's leftAs). Running the rebalance again carries on from there: the
 * instruments still off the rule are what is left. A move refused SAME_SHARD (someone moved the
 * instrument meanwhile) is counted as done.
 *
 * Draining a shard (`without`) is the same with the rule taken over the other shards: every
 * instrument of the drained shard moves to where the rule puts it among them (and any other
 * instrument off that rule), then the map's next version drops the shard. A shard holding pinned
 * instruments is refused before anything moves.
 */
import { plan, type Move } from "./rendezvous.js";
import { offRule, pinsOf, placementOf, rulePlacement, ShardMapError, ShardMapProblem, weightsOf, withShardRemoved } from "./map.js";
import { MOVE_LIMITS, MoveError, MoveProblem, Mover, type MoveOptions, type MoveResult } from "./move.js";
import type { ShardMapStore } from "./store.js";

export interface RebalanceResult {
  map_version_before: number;
  map_version: number;
  /** The moves the map needed when the rebalance started, in the order they were made. */
  planned: Move[];
  moved: MoveResult[];
  /** Planned moves found already made by someone else (SAME_SHARD). */
  already: number[];
  /** The shard drained and removed from the map, when one was. */
  removed?: string;
  ms_total: number;
}

/** A rebalance stopped by a move that failed: what was done before it, and that move's error. */
export class RebalanceError extends Error {
  override readonly name = "RebalanceError";
  constructor(readonly done: RebalanceResult, readonly failed: Move, readonly why: MoveError) {
    super(`the move of instrument ${failed.instrument} from ${failed.from} to ${failed.to} was refused (${why.problem}): ${why.message}; ${why.leftAs}`, { cause: why });
  }
}

export async function rebalance(store: ShardMapStore, operator: MoveOptions["operator"], say: (line: string) => void = () => undefined, without?: string): Promise<RebalanceResult> {
  const t0 = performance.now();
  const { map } = await store.readOrFail();
  let planned = offRule(map);
  if (without !== undefined) {
    if (!map.shards.some((s) => s.id === without)) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${without}" is not in the map (version ${map.version})`);
    if (map.shards.length === 1) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${without}" is the only shard; a map needs at least one`);
    const pinned = [...pinsOf(map)].filter(([, s]) => s === without).map(([i]) => i);
    if (pinned.length > 0) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${without}" has pinned instruments (${pinned.join(", ")}): unpin them before draining it`);
    planned = plan(placementOf(map), rulePlacement(map, weightsOf(map.shards.filter((s) => s.id !== without))));
  }
  const out: RebalanceResult = { map_version_before: map.version, map_version: map.version, planned, moved: [], already: [], ms_total: 0 };
  say(planned.length === 0 ? `shard map version ${map.version}: every instrument is where the rule puts it; nothing to move` : `shard map version ${map.version}: ${planned.length} instruments to move`);
  for (const m of planned) {
    try {
      const r = await new Mover(store, { instrument: m.instrument, to: m.to, operator, say }).run();
      out.moved.push(r);
      out.map_version = r.map_version;
      say(`instrument ${m.instrument}: ${m.from} → ${m.to}, ${r.orders} orders in ${r.ms.total} ms, book hashes ${r.hashes_equal ? "equal" : "DIFFERENT"}`);
      if (!r.hashes_equal) throw new MoveError(MoveProblem.EXPORT_DISAGREES, `the book hash after the move (${r.hash_after}) differs from the hash before it (${r.hash_before})`, "the target trades the instrument: compare the shards' books before going on");
    } catch (err) {
      if (err instanceof MoveError && err.problem === MoveProblem.SAME_SHARD) {
        out.already.push(m.instrument);
        continue;
      }
      out.ms_total = Math.round(performance.now() - t0);
      if (err instanceof MoveError) throw new RebalanceError(out, m, err);
      throw err;
    }
  }
  if (without !== undefined) {
    for (let attempt = 1; ; attempt++) {
      const { map: now } = await store.readOrFail();
      try {
        const next = withShardRemoved(now, without);
        await store.write(next);
        out.map_version = next.version;
        out.removed = without;
        say(`shard map version ${next.version}: shard ${without} removed`);
        break;
      } catch (err) {
        // A writer in between (STALE) is read again, as a move's map write is; anything else stops here.
        if (!(err instanceof ShardMapError) || err.problem !== ShardMapProblem.STALE || attempt >= MOVE_LIMITS.mapWriteTriesMax) throw err;
      }
    }
  }
  out.ms_total = Math.round(performance.now() - t0);
  return out;
}
