/**
 * Two sequencer groups for moving an instrument between them, as bench/move.ts and
 * test/shard-move.test.ts run them: each a sequencer and replicas r1 and r2, as processes of the
 * local config on ephemeral ports, with instruments 1 (the one moved), 2 and 3, and an operator
 * account that may send the move's steps.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT, spawnNode, type NodeProcess } from "../cluster/launcher.js";

export interface MoveGroup { readonly id: string; readonly dir: string; readonly seq: NodeProcess; readonly replicas: NodeProcess[] }

const inst = (id: number, symbol: string): object => ({ id, symbol, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 });

/**
 * Starts group `id` below `root`, with the instruments in `away` configured as another group's.
 * `started` gets the group once its sequencer runs, before any replica starts, so that a caller
 * can stop what did start if a replica then fails to (its `replicas` fill in as they start).
 */
export async function startMoveGroup(root: string, id: string, away: readonly number[], operatorAccount: number, started: (g: MoveGroup) => void): Promise<MoveGroup> {
  const base = JSON.parse(readFileSync(join(PACKAGE_ROOT, "config", "local.json"), "utf8")) as Record<string, unknown>;
  const dir = join(root, id);
  const logs = join(dir, "logs");
  mkdirSync(logs, { recursive: true });
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({
    ...base, instruments: [inst(1, "MOVE"), inst(2, "STAY-A"), inst(3, "STAY-B")], instrumentsAway: away,
    sequencer: { ...(base.sequencer as object), operatorAccount }, replicas: [{ id: "r1", port: 0 }, { id: "r2", port: 0 }],
  }));
  const seq = await spawnNode(`${id}-seq`, ["sequencer", "--config", config, "--data", dir, "--port", "0"], logs);
  const g: MoveGroup = { id, dir, seq, replicas: [] };
  started(g);
  for (const r of ["r1", "r2"]) {
    g.replicas.push(await spawnNode(`${id}-${r}`, ["replica", "--config", config, "--id", r, "--data", dir, "--sequencer", String(seq.ready.replicate), "--port", "0"], logs));
  }
  return g;
}
