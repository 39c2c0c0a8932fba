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
 */
import type { Move } from "./rendezvous.js";
import { offRule } from "./map.js";
import { MoveError, MoveProblem, Mover, type MoveOptions, type MoveResult } from "./move.js";
import type { ShardMapStore } from "./store.js";

export interface RebalanceResult {
  map_version_before: number;
  map_version: number;
  /** The moves the map needed when the rebalance started, in the order they were made. */
  planned: Move[];
  moved: MoveResult[];
  /** Planned moves found already made by someone else (SAME_SHARD). */
  already: number[];
  ms_total: number;
}

/** A rebalance stopped by a move that failed: what was done before it, and that move's error. */
export class RebalanceError extends Error {
  override readonly name = "RebalanceError";
  constructor(readonly done: RebalanceResult, readonly failed: Move, readonly why: MoveError) {
    super(`the move of instrument ${failed.instrument} from ${failed.from} to ${failed.to} was refused (${why.problem}): ${why.message}; ${why.leftAs}`, { cause: why });
  }
}

export async function rebalance(store: ShardMapStore, operator: MoveOptions["operator"], say: (line: string) => void = () => undefined): Promise<RebalanceResult> {
  const t0 = performance.now();
  const { map } = await store.readOrFail();
  const planned = offRule(map);
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
  out.ms_total = Math.round(performance.now() - t0);
  return out;
}
