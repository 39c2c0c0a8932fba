/**
 * `lockstep start --shards N` (src/cli/start-shards.ts): two groups as processes, traffic routed
 * by the shard map, and every shard ends with orders acked, none refused (each group's
 * configuration lists only its own instruments, so a misrouted order would be refused), and
 * its replicas at the shard's last seq with one hash. A shard count out of range is one line
 * and exit 2. When the configuration has too few instruments, the demo's copies give every
 * shard some.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEMO_SHARDS_MAX, demoInstruments, type ShardedStartSummary } from "../src/cli/start-shards.js";
import { ConfigSchema } from "../src/config/config.js";
import { place } from "../src/shard/rendezvous.js";
import { BIN, lastJson, lockstep, noStack } from "./lockstep-cli.js";

const local = ConfigSchema.parse(JSON.parse(readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")));

describe("lockstep start --shards", () => {
  it("start --shards 2 --duration 4 --json: orders acked on every shard, none refused, each shard's replicas at its last seq with one hash", async () => {
    const r = await lockstep("start", "--shards", "2", "--duration", "4", "--json", "--ephemeral", "--no-dashboard");
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson(r.stdout) as unknown as ShardedStartSummary;
    expect(s.map_version).toBe(1);
    expect(s.shards.map((x) => x.id)).toEqual(["s1", "s2"]);
    expect(s.hashes_agree).toBe(true);
    expect(s.shards.flatMap((x) => x.instruments).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    for (const x of s.shards) {
      expect(x.orders_acked, x.id).toBeGreaterThan(0);
      expect(x.commands_refused, x.id).toBe(0);
      expect(x.hashes_agree, x.id).toBe(true);
      expect(x.replicas.map((y) => y.id)).toEqual(["r1", "r2", "r3"]);
      expect(new Set(x.replicas.map((y) => `${y.seq}/${y.hash}`)).size).toBe(1);
      expect(x.replicas[0]!.seq).toBe(x.seq);
      expect(x.seq).toBe(x.orders_acked);
      for (const i of x.instruments) expect(place(i, s.shards.map((y) => ({ id: y.id })))).toBe(x.id);
    }
    expect(s.orders_acked).toBe(s.shards.reduce((n, x) => n + x.orders_acked, 0));
    expect(r.stderr).toContain("the demo added 3 copies of instrument 1");
  });

  it("start --shards 2 serves a dashboard per shard, each with live data from its own group and a line for every shard", async () => {
    const child = spawn(process.execPath, [BIN, "start", "--shards", "2", "--duration", "8", "--json", "--ephemeral"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const lines = createInterface({ input: child.stderr });
      const boards: { shard: string; instrument: number; url: string }[] = [];
      for await (const line of lines) {
        const m = /dashboard of shard (s\d) \(instrument (\d+)\): (http:\/\/127\.0\.0\.1:\d+)\//.exec(line);
        if (m !== null) boards.push({ shard: m[1]!, instrument: Number(m[2]), url: m[3]! });
        if (boards.length === 2) break;
      }
      child.stderr.resume(); // keep draining what the demo says, so that it never blocks on a full pipe
      expect(boards.map((b) => b.shard)).toEqual(["s1", "s2"]);
      expect(new Set(boards.map((b) => b.url)).size).toBe(2);
      type Live = { seq: number; replicas: { id: string; up: boolean }[]; shard: string; shards: { id: string; url: string; instruments: number[]; seq: number }[] };
      const live = await Promise.all(boards.map((b) => new Promise<Live>((resolve, reject) => {
        const ws = new WebSocket(`${b.url.replace("http", "ws")}/live`);
        const timer = setTimeout(() => { ws.close(); reject(new Error(`no live snapshot with orders from ${b.url} within 6 s`)); }, 6_000);
        ws.on("message", (data: Buffer) => {
          const snap = JSON.parse(data.toString()) as Live;
          if (snap.seq > 0 && snap.replicas.every((r) => r.up)) { clearTimeout(timer); ws.close(); resolve(snap); }
        });
        ws.on("error", reject);
      })));
      for (const [k, snap] of live.entries()) {
        expect(snap.replicas.map((r) => r.id)).toEqual(["r1", "r2", "r3"]);
        // Every page has every shard's line, each pointing at that shard's own page.
        expect(snap.shard).toBe(boards[k]!.shard);
        expect(snap.shards.map((x) => [x.id, x.url.replace(/\/$/, "")])).toEqual(boards.map((b) => [b.shard, b.url]));
        expect(snap.shards[k]!.instruments).toContain(boards[k]!.instrument);
      }
      expect(await exited).toBe(0);
      const s = lastJson(out) as unknown as ShardedStartSummary;
      boards.forEach((b, k) => {
        expect(s.shards[k]!.id).toBe(b.shard);
        expect(s.shards[k]!.instruments[0]).toBe(b.instrument);
        expect(live[k]!.seq).toBeLessThanOrEqual(s.shards[k]!.seq);
      });
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  }, 60_000);

  it("a shard count out of 1..8 is one line and exit 2", async () => {
    for (const n of ["0", "99", "two"]) {
      const r = await lockstep("start", "--shards", n, "--duration", "1");
      expect(r.code, n).toBe(2);
      expect(r.stderr).toContain(`--shards must be an integer from 1 to ${DEMO_SHARDS_MAX}`);
      noStack(r.stderr);
    }
  });

  it("with one configured instrument and 2 or more shards, the demo adds copies until every shard holds some and there are 2 per shard in all", () => {
    for (let n = 1; n <= DEMO_SHARDS_MAX; n++) {
      const ids = Array.from({ length: n }, (_, i) => `s${i + 1}`);
      const insts = demoInstruments(local, ids);
      // One shard holds the one configured instrument: nothing is added.
      if (n === 1) expect(insts).toEqual(local.instruments);
      else expect(insts.length).toBeGreaterThanOrEqual(2 * n);
      expect(new Set(insts.map((i) => place(i.id, ids.map((id) => ({ id })))))).toEqual(new Set(ids));
      expect(insts[0]).toEqual(local.instruments[0]);
      for (const [k, i] of insts.entries()) {
        expect(i.id).toBe(k + 1);
        expect({ ...i, id: 0, symbol: "" }).toEqual({ ...local.instruments[0], id: 0, symbol: "" });
      }
    }
    // Enough configured instruments: none added.
    const many = { ...local, instruments: Array.from({ length: 20 }, (_, k) => ({ ...local.instruments[0]!, id: k + 1, symbol: `X${k + 1}` })) };
    expect(demoInstruments(many, ["s1", "s2"])).toHaveLength(20);
  });
});
