/**
 * The dashboard server without a browser: it serves the page and uPlot from this package, sends
 * a snapshot to a /live subscriber at once, shows unreachable nodes as down, and its drill
 * controls refuse what they should (no header from the page, unknown node or action, a server
 * without controls) with a reason code and a plain message.
 */
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { freePort } from "../src/cluster/ports.js";
import type { Snapshot } from "../src/dashboard/collector.js";
import { DashboardServer, type Controls } from "../src/dashboard/server.js";

const servers: DashboardServer[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.stop()));

async function serve(controls?: Controls): Promise<string> {
  const dead = await freePort(); // nothing listens there: every node is down
  const s = new DashboardServer({
    host: "127.0.0.1", port: 0, instrument: 1, log: pino({ level: "silent" }), ...(controls === undefined ? {} : { controls }),
    nodes: [{ id: "sequencer", role: "sequencer", stats: `http://127.0.0.1:${dead}/stats` }, { id: "r1", role: "replica", stats: `http://127.0.0.1:${dead}/stats` }],
  });
  servers.push(s);
  return `http://127.0.0.1:${await s.start()}`;
}

const post = (url: string, header: boolean): Promise<Response> => fetch(url, { method: "POST", headers: header ? { "x-lockstep-control": "1" } : {} });

describe("dashboard server", () => {
  it("serves the page and uPlot, and a /live subscriber gets a snapshot at once, with unreachable replicas down", async () => {
    const base = await serve();
    const page = await fetch(`${base}/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("/uplot.js");
    expect((await (await fetch(`${base}/uplot.js`)).text()).length).toBeGreaterThan(10_000);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const ws = new WebSocket(`${base.replace("http", "ws")}/live`);
    const snap = await new Promise<Snapshot>((resolve, reject) => {
      ws.once("message", (d: Buffer) => resolve(JSON.parse(d.toString()) as Snapshot));
      ws.once("error", reject);
    });
    ws.close();
    expect(snap.replicas).toEqual([expect.objectContaining({ id: "r1", up: false, status: "red", why: "down" })]);
    expect(snap.controls).toBe(false);
  });

  it("drill controls act only for the page, on known nodes and actions; a server without them says so", async () => {
    const done: string[] = [];
    const base = await serve({
      nodes: [{ id: "r1", actions: ["kill", "restart"] }],
      kill: async (id) => { done.push(`kill ${id}`); },
      restart: async (id) => { done.push(`restart ${id}`); },
    });
    const forbidden = await post(`${base}/control/kill/r1`, false);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: "NOT_FROM_PAGE" });
    expect(await (await post(`${base}/control/kill/r9`, true)).json()).toMatchObject({ error: "UNKNOWN_NODE" });
    expect(await (await post(`${base}/control/explode/r1`, true)).json()).toMatchObject({ error: "UNKNOWN_ACTION" });
    expect(done).toEqual([]);
    const ok = await post(`${base}/control/kill/r1`, true);
    expect(ok.status).toBe(200);
    expect(await (await post(`${base}/control/restart/r1`, true)).json()).toMatchObject({ ok: true });
    expect(done).toEqual(["kill r1", "restart r1"]);
    const none = await serve();
    expect(await (await post(`${none}/control/kill/r1`, true)).json()).toMatchObject({ error: "NO_CONTROLS" });
    expect(await (await fetch(`${none}/controls`)).json()).toEqual({ nodes: [] });
  });
});
