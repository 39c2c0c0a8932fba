/**
 * The `lockstep` command as a user runs it: a real child process per case (bin/lockstep.js on
 * the built dist/), bounded in time. Proves that usage mistakes and missing files get a clear
 * message and never a stack trace, and the demo's JSON summary (the clock drills' figures: test/drill-clock.test.ts). The
 * replay formats have their own files: test/replay-jsonl.test.ts, test/replay-lobster.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../src/cluster/ports.js";
import { lastJson, lockstep, noStack } from "./lockstep-cli.js";

const dir = mkdtempSync(join(tmpdir(), "lockstep-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lockstep command errors and demo", () => {
  it("unknown commands and flags print usage and exit 2; a missing file exits 1; never a stack", async () => {
    const a = await lockstep("frobnicate");
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("usage: lockstep");
    const b = await lockstep("replay", "--format", "jsonl", "--bogus", "x");
    expect(b.code).toBe(2);
    const c = await lockstep("replay", "--format", "jsonl", join(dir, "missing.jsonl"));
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("no such file");
    const d = await lockstep("replay", "--format", "csv", join(dir, "x"));
    expect(d.code).toBe(2);
    for (const r of [a, b, c, d]) noStack(r.stderr);
  });

  it("a node whose port is taken says so in one line and exits 1, not as an internal error", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    try {
      const { port } = taken.address() as { port: number };
      const r = await lockstep("replica", "--id", "r1", "--data", join(dir, "taken"), "--port", String(port), "--sequencer", `ws://127.0.0.1:${await freePort()}`);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split("\n"), r.stderr).toEqual([`lockstep: replica r1: cannot listen on 127.0.0.1:${port} (the port is in use, or the address is not this machine's)`]);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it("freePort picks ports below the kernel's ephemeral range, where no outgoing connection's source port can take them", async () => {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    for (let i = 0; i < 20; i++) {
      const p = await freePort();
      expect(p).toBeGreaterThanOrEqual(20_000);
      expect(p).toBeLessThan(low);
    }
  });

  it("start --duration 3 --json runs a 3-replica cluster as processes, and every replica ends at the same seq and hash", async () => {
    const r = await lockstep("start", "--duration", "3", "--json", "--ephemeral");
    expect(r.code).toBe(0);
    const s = lastJson(r.stdout) as { orders_acked: number; replicas: { id: string; seq: number; hash: string }[]; hashes_agree: boolean };
    expect(s.hashes_agree).toBe(true);
    expect(s.orders_acked).toBeGreaterThan(1000);
    expect(s.replicas.map((x) => x.id)).toEqual(["r1", "r2", "r3"]);
    expect(new Set(s.replicas.map((x) => `${x.seq}/${x.hash}`)).size).toBe(1);
    expect(s.replicas[0]!.seq).toBe(s.orders_acked);
  });

  it("an invalid configuration is reported field by field, before anything starts", async () => {
    const bad = join(dir, "bad-config.json");
    const cfg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")) as Record<string, any>;
    writeFileSync(bad, JSON.stringify({ ...cfg, sequencer: { ...cfg.sequencer, ack: { mode: "quorum" } } }));
    const r = await lockstep("start", "--config", bad, "--duration", "1");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("sequencer.ack.mode");
    // Cross-field checks run once every field is valid.
    cfg.replicas[1].id = "r1";
    writeFileSync(bad, JSON.stringify(cfg));
    const r2 = await lockstep("start", "--config", bad, "--duration", "1");
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('replicas.1.id: replica id "r1" is used twice');
    // A resume ring too large to allocate at start is refused before anything starts.
    cfg.replicas[1].id = "r2";
    writeFileSync(bad, JSON.stringify({ ...cfg, replicaDefaults: { ...cfg.replicaDefaults, reportRingMax: 5_000_001 } }));
    const r3 = await lockstep("start", "--config", bad, "--duration", "1");
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain("replicaDefaults.reportRingMax");
    // So is a sequencer's ring of recent records.
    writeFileSync(bad, JSON.stringify({ ...cfg, sequencer: { ...cfg.sequencer, ringRecordsMax: 5_000_001 } }));
    const r4 = await lockstep("start", "--config", bad, "--duration", "1");
    expect(r4.code).toBe(1);
    expect(r4.stderr).toContain("sequencer.ringRecordsMax");
    for (const x of [r, r2, r3, r4]) noStack(x.stderr);
  });

  it("an ha configuration is checked too, and a sequencer node must be named with --id", async () => {
    const bad = join(dir, "bad-ha.json");
    const cfg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")) as Record<string, any>;
    cfg.ha = { etcd: ["http://127.0.0.1:1"], nodes: [{ id: "s1", port: 0 }, { id: "s1", port: 0 }] };
    writeFileSync(bad, JSON.stringify(cfg));
    const r = await lockstep("sequencer", "--config", bad, "--id", "s1");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ha.nodes.1.id: sequencer node id "s1" is used twice');
    cfg.ha.nodes[1].id = "s2";
    writeFileSync(bad, JSON.stringify(cfg));
    const r2 = await lockstep("sequencer", "--config", bad, "--data", join(dir, "ha-data"));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain("--id must name a sequencer node in the configuration (s1, s2)");
    const r3 = await lockstep("sequencer", "--id", "s1", "--data", join(dir, "ha-data"));
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain("--id is for sequencer nodes of an ha configuration");
    // Nothing listens on port 1: the node says it cannot reach etcd, and exits.
    const r4 = await lockstep("sequencer", "--config", bad, "--id", "s1", "--data", join(dir, "ha-data"));
    expect(r4.code).toBe(1);
    expect(r4.stderr).toContain("sequencer could not start (etcd at http://127.0.0.1:1)");
    for (const x of [r, r2, r3, r4]) noStack(x.stderr);
  });
});
