/**
 * A replica's snapshot on disk: the engine's state with the seq, chain value and epoch it was
 * taken at. The file is a CRC32 followed by the MessagePack body, written to a temporary file,
 * fsync'd, then renamed over the old one, so a crash leaves the old or the new, never half.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import type { EngineSnapshot } from "../engine/index.js";

export interface Persisted { format: 1; seq: number; chain: Uint8Array; epoch: number; engine: EngineSnapshot }

const packr = new Packr({ useRecords: false, int64AsType: "number" });
const FILE = "snapshot.msgpack";

/**
 * The snapshot in `dir`, with what `restore` made of it: null when there is none; a file that
 * fails its CRC, does not decode, or that `restore` refuses (an older engine format) is moved
 * aside and reported.
 */
export function loadSnapshot<T>(dir: string, moveAside: (path: string, why: string) => void, restore: (p: Persisted) => T): (Persisted & { restored: T }) | null {
  const path = join(dir, FILE);
  if (!existsSync(path)) return null;
  try {
    const bytes = readFileSync(path);
    if (bytes.length < 4 || crc32(bytes.subarray(4)) !== bytes.readUInt32LE(0)) throw new Error("CRC mismatch");
    const p = packr.unpack(bytes.subarray(4)) as Persisted;
    if (p.format !== 1) throw new Error(`unsupported snapshot format ${String(p.format)}`);
    return { ...p, restored: restore(p) };
  } catch (err) {
    const aside = `${path}.corrupt-${Date.now()}`;
    renameSync(path, aside);
    moveAside(aside, (err as Error).message);
    return null;
  }
}

function frame(p: Persisted): Buffer[] {
  const body = packr.pack(p);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(crc32(body), 0);
  return [head, body];
}

/**
 * Writes the snapshot off the event loop: the state is captured and encoded now (so it is the
 * state at this seq), the write, fsync and rename happen in the background. A serving replica
 * does not stall for the disk.
 */
export async function saveSnapshotInBackground(dir: string, p: Persisted): Promise<void> {
  const path = join(dir, FILE);
  const tmp = `${path}.tmp`;
  const [head, body] = frame(p);
  const f = await open(tmp, "w");
  try {
    await f.writev([head!, body!]);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
}

export function saveSnapshot(dir: string, p: Persisted): void {
  const path = join(dir, FILE);
  const tmp = `${path}.tmp`;
  const [head, body] = frame(p);
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, head!);
    writeSync(fd, body!);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
