/**
 * Two move groups (src/tools/move-groups.ts: a sequencer and replicas r1, r2 each, as processes)
 * and an etcd, started before a describe block's tests and stopped after them, for the tests of
 * moving instruments between shards. Call inside `describe`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { stopNode } from "../src/cluster/launcher.js";
import { startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import { ShardMapStore } from "../src/shard/store.js";
import { startMoveGroup, type MoveGroup } from "../src/tools/move-groups.js";

export interface MoveFixture {
  /** Where the groups and etcd keep their data and logs. */
  readonly dir: string;
  /** s1 then s2, once started. */
  readonly groups: MoveGroup[];
  etcdUrl(): string;
  store(): ShardMapStore;
}

/** s1 and s2 with `away[0]` and `away[1]` configured as the other group's, `operator` their operator account. */
export function useMoveGroups(prefix: string, away: readonly [readonly number[], readonly number[]], operator: number): MoveFixture {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let server: EtcdProcess | undefined;
  let store: ShardMapStore | undefined;
  const groups: MoveGroup[] = [];
  beforeAll(async () => {
    server = await startEtcd(dir, join(dir, "logs"));
    await Promise.all([startMoveGroup(dir, "s1", away[0], operator, (g) => groups.push(g)), startMoveGroup(dir, "s2", away[1], operator, (g) => groups.push(g))]);
    groups.sort((a, b) => a.id.localeCompare(b.id));
    store = new ShardMapStore([server.url]);
  }, 60_000);
  afterAll(async () => {
    store?.close();
    await Promise.all(groups.flatMap((g) => [g.seq, ...g.replicas]).map(stopNode));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, groups, etcdUrl: () => server!.url, store: () => store! };
}
