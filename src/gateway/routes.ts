/**
 * The shard map as a gateway routes by it: instrument → shard, shard number → shard, and the
 * rule that keeps order ids valid across map versions. A shard's number is its position in the
 * map's `shards` list, and every id a client holds carries it (./ids.ts), so a new version may
 * append shards and drop shards from the end, but never put another shard at a position a
 * shard held before: `change` refuses such a map, and the gateway goes on with the one it has.
 */
import { validateShardMap, type ShardEntry, type ShardMap } from "../shard/map.js";

export interface Route {
  /** The shard's number: its position in the map's `shards`. */
  readonly n: number;
  readonly shard: ShardEntry;
}

export class RouteTable {
  readonly map: ShardMap;
  private readonly byInstrument = new Map<number, Route>();
  private readonly byNumber: Route[];
  /** Every instrument the map places: what NEW may name. */
  readonly instruments: ReadonlySet<number>;

  constructor(map: ShardMap) {
    this.map = validateShardMap(map, "the shard map");
    this.byNumber = this.map.shards.map((shard, n) => ({ n, shard }));
    for (const r of this.byNumber) for (const i of r.shard.instruments) this.byInstrument.set(i, r);
    this.instruments = new Set(this.byInstrument.keys());
  }

  get version(): number {
    return this.map.version;
  }
  get shards(): readonly Route[] {
    return this.byNumber;
  }
  ofInstrument(instrument: number): Route | undefined {
    return this.byInstrument.get(instrument);
  }
  ofNumber(n: number): Route | undefined {
    return this.byNumber[n];
  }

  /**
   * The table for `next`, or why it is refused: an older or equal version (`stale`: ignored
   * quietly), or a shard at a position another shard held (ids already handed out would then
   * name the wrong shard).
   */
  change(next: ShardMap): { table: RouteTable } | { stale: true } | { refused: string } {
    if (next.version <= this.map.version) return { stale: true };
    const table = new RouteTable(next);
    const n = Math.min(this.byNumber.length, table.byNumber.length);
    for (let i = 0; i < n; i++) {
      const was = this.byNumber[i]!.shard.id;
      const now = table.byNumber[i]!.shard.id;
      if (was !== now) return { refused: `shard map version ${next.version} puts shard "${now}" at position ${i}, where version ${this.map.version} has shard "${was}": order ids carry a shard's position, so shards may only be appended or removed from the end` };
    }
    return { table };
  }
}
