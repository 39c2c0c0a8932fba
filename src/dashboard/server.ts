/**
 * The live dashboard: a uWebSockets.js app serving one page (dashboard/ in this package, uPlot
 * from its npm package: nothing from a CDN, the page works offline) and a WebSocket, /live,
 * on which every open page gets the same snapshot at most `updateHz` times a second (one
 * publish fanned out by uWS). JSON here, not MessagePack: this is a browser view at 10 Hz, not
 * a trading path, and the page stays free of a decoder.
 *
 * Drill controls (kill or restart a node) exist only when the dashboard was started with
 * `controls`, which `lockstep start` does for the cluster it launched; the server listens on
 * loopback only.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import uWS from "uWebSockets.js";
import { CloseCode } from "../util/login-gate.js";
import { listen } from "../util/uws.js";
import { Collector, shardRow, type DashboardNode, type ShardRow, type Snapshot } from "./collector.js";

export interface Controls {
  /** Node ids the page may act on, and what it may do to each. */
  readonly nodes: readonly { id: string; actions: readonly ("kill" | "restart")[] }[];
  kill(id: string): Promise<void>;
  /** Resolves with the node's addresses when they changed (it could not get its old port back). */
  restart(id: string): Promise<DashboardNode | void>;
}

export interface DashboardOptions {
  readonly host: string;
  readonly port: number;
  readonly nodes: readonly DashboardNode[];
  readonly instrument: number;
  readonly controls?: Controls;
  readonly log: Logger;
  readonly updateHz?: number;
  readonly pollMs?: number;
  /**
   * One of several shards' dashboards (lockstep start --shards): this one's shard, and every
   * shard's line (`overview()` of each dashboard), shown on every page, each linking to its own.
   */
  readonly shard?: { readonly id: string; readonly instruments: readonly number[]; readonly all: () => readonly ShardRow[] };
}

/** dashboard/ at the package root: two levels up from src/dashboard, three from dist/src/dashboard. */
const STATIC_DIR = [resolve(import.meta.dirname, "..", "..", "dashboard"), resolve(import.meta.dirname, "..", "..", "..", "dashboard")]
  .find((d) => existsSync(join(d, "index.html"))) ?? resolve(import.meta.dirname, "..", "..", "..", "dashboard");
const require = createRequire(import.meta.url);

interface Asset { type: string; body: Buffer }

function assets(): Map<string, Asset> {
  const uplotDir = join(require.resolve("uplot"), "..");
  const files: [string, string, string][] = [
    ["/", join(STATIC_DIR, "index.html"), "text/html; charset=utf-8"],
    ["/app.js", join(STATIC_DIR, "app.js"), "text/javascript; charset=utf-8"],
    ["/style.css", join(STATIC_DIR, "style.css"), "text/css; charset=utf-8"],
    ["/uplot.js", join(uplotDir, "uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
    ["/uplot.css", join(uplotDir, "uPlot.min.css"), "text/css; charset=utf-8"],
  ];
  return new Map(files.map(([route, path, type]) => [route, { type, body: readFileSync(path) }]));
}

export class DashboardServer {
  private listenSocket: uWS.us_listen_socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly collector: Collector;
  private port_ = 0;
  /** Open pages: ended on stop, else a page left open in a browser keeps the process alive. */
  private readonly live = new Set<uWS.WebSocket<unknown>>();

  constructor(private readonly o: DashboardOptions) {
    this.collector = new Collector(o.nodes, o.instrument, o.pollMs ?? 250, o.controls !== undefined);
  }

  get port(): number {
    return this.port_;
  }

  async start(): Promise<number> {
    const files = assets();
    const app = uWS.App();
    for (const [route, a] of files) app.get(route, (res) => { res.writeHeader("content-type", a.type).writeHeader("cache-control", "no-cache").end(a.body); });
    app.get("/controls", (res) => {
      res.writeHeader("content-type", "application/json").end(JSON.stringify({ nodes: this.o.controls?.nodes ?? [] }));
    });
    // The page sends a custom header, which a browser will not let another site's page send
    // without a CORS preflight that this server never grants: no cross-site kill buttons.
    app.post("/control/:action/:id", (res, req) => this.control(res, req.getParameter(0) ?? "", req.getParameter(1) ?? "", req.getHeader("x-lockstep-control") === "1"));
    app.ws("/live", {
      compression: uWS.DISABLED, maxPayloadLength: 4096, idleTimeout: 120, maxBackpressure: 1 << 20, closeOnBackpressureLimit: 1,
      open: (ws) => {
        this.live.add(ws);
        ws.subscribe("live");
        ws.send(JSON.stringify(this.snapshot()));
      },
      close: (ws) => { this.live.delete(ws); },
    });
    app.any("/*", (res) => { res.writeStatus("404 Not Found").end("not found"); });
    await this.collector.start();
    const l = await listen(app, this.o.host, this.o.port, "dashboard");
    this.listenSocket = l.token;
    this.port_ = l.port;
    const everyMs = Math.round(1000 / (this.o.updateHz ?? 10));
    this.timer = setInterval(() => {
      if (app.numSubscribers("live") > 0) app.publish("live", JSON.stringify(this.snapshot()));
    }, everyMs);
    return this.port_;
  }

  /** What every page gets: the collector's snapshot, with every shard's line when there are several. */
  private snapshot(): Snapshot {
    const s = this.collector.snapshot();
    const sh = this.o.shard;
    return sh === undefined ? s : { ...s, shard: sh.id, shards: [...sh.all()] };
  }

  /** This dashboard's shard as one line for the others' pages (undefined when it is not one of several). */
  overview(): ShardRow | undefined {
    const sh = this.o.shard;
    return sh === undefined ? undefined : shardRow(sh.id, `http://${this.o.host}:${this.port_}/`, sh.instruments, this.collector.snapshot());
  }

  private control(res: uWS.HttpResponse, action: string, id: string, fromPage: boolean): void {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    const reply = (status: string, body: object): void => {
      if (aborted) return;
      res.cork(() => res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(body)));
    };
    const c = this.o.controls;
    const node = c?.nodes.find((n) => n.id === id);
    if (c === undefined) return reply("404 Not Found", { error: "NO_CONTROLS", message: "drill controls exist only on a cluster started by lockstep start" });
    if (!fromPage) return reply("403 Forbidden", { error: "NOT_FROM_PAGE", message: "controls take requests with the header x-lockstep-control: 1 (sent by the dashboard page)" });
    if (node === undefined) return reply("404 Not Found", { error: "UNKNOWN_NODE", message: `no node "${id}" (known: ${c.nodes.map((n) => n.id).join(", ")})` });
    if (action !== "kill" && action !== "restart") return reply("400 Bad Request", { error: "UNKNOWN_ACTION", message: `action must be kill or restart, not "${action}"` });
    if (!node.actions.includes(action)) return reply("409 Conflict", { error: "NOT_ALLOWED", message: `${action} is not available for ${id}` });
    this.o.log.warn({ action, node: id }, "dashboard drill control");
    (action === "kill" ? c.kill(id) : c.restart(id)).then(
      (moved) => {
        if (moved) this.collector.replaceNode(moved);
        reply("200 OK", { ok: true, action, node: id });
      },
      (err: Error) => reply("500 Internal Server Error", { error: "FAILED", message: err.message }),
    );
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.collector.stop();
    for (const ws of [...this.live]) ws.end(CloseCode.GOING_AWAY, "dashboard stopping");
    this.live.clear();
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
  }
}
