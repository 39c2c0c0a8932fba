/**
 * Where a gateway's shard map comes from: a file, read once, or etcd (src/shard/store.ts), read
 * and then watched from that read's revision, so no version written in between is missed. Each
 * version etcd delivers goes to `gateway.setMap`; one it refuses (not newer, or moving a shard
 * to another position) is logged and the gateway routes on by the map it holds, as it does for
 * a value in etcd that is not a valid map or a deleted key.
 */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { parseShardMap, type ShardMap } from "../shard/map.js";
import { ShardMapStore } from "../shard/store.js";

export function shardMapFromFile(path: string): ShardMap {
  return parseShardMap(readFileSync(path, "utf8"), path);
}

export interface EtcdMapSource {
  readonly map: ShardMap;
  /** Starts the watch; each newer map goes to `onMap`. Resolves with a function that ends the watch and closes the etcd client. */
  follow(onMap: (m: ShardMap) => void): Promise<() => Promise<void>>;
}

/** Reads the map from etcd (a ShardMapError when there is none, it is corrupt, or etcd does not answer). */
export async function shardMapFromEtcd(hosts: readonly string[], log: Logger): Promise<EtcdMapSource> {
  const store = new ShardMapStore(hosts);
  try {
    const stored = await store.readOrFail();
    return {
      map: stored.map,
      follow: async (onMap) => {
        const cancel = await store.watch((m) => onMap(m.map), (err) => log.error({ problem: err.problem, err: err.message }, "shard map in etcd unusable; routing by the one held"), stored.rev);
        return async () => {
          await cancel();
          store.close();
        };
      },
    };
  } catch (err) {
    store.close();
    throw err;
  }
}
