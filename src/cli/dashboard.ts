/**
 * `lockstep dashboard --nodes URL[,URL…]`: the live dashboard for any running cluster, from its
 * nodes' HTTP addresses (each node says on /stats whether it is a sequencer or a replica). No
 * drill controls: those exist only on a cluster `lockstep start` launched itself.
 */
import { getJson } from "../cluster/launcher.js";
import type { DashboardNode } from "../dashboard/collector.js";
import { DashboardServer } from "../dashboard/server.js";
import { numberFlag, parse, UserError } from "./args.js";
import { makeLogger } from "./log.js";

export async function runDashboard(args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, { nodes: { type: "string" }, port: { type: "string" }, instrument: { type: "string" } });
  const urls = [...String(v.nodes ?? "").split(","), ...positionals].map((u) => u.trim()).filter((u) => u !== "");
  if (urls.length === 0) throw new UserError("dashboard needs --nodes URL[,URL…]: each node's http://host:port (or its /stats URL)", 2);
  const port = numberFlag(v, "port", 7080, -1, 65535, true);
  const instrument = numberFlag(v, "instrument", 1, 0, Number.MAX_SAFE_INTEGER, true);
  const nodes: DashboardNode[] = [];
  for (const raw of urls) {
    let base: URL;
    try {
      base = new URL(raw.replace(/\/stats$/, ""));
    } catch {
      throw new UserError(`--nodes: "${raw}" is not a URL`, 2);
    }
    const stats = `${base.origin}/stats`;
    const s = await getJson<{ role?: string; id?: string }>(stats, 1, 2000).catch((err: Error) => { throw new UserError(`cannot read ${stats}: ${err.message}`); });
    if (s.role === "sequencer") nodes.push({ id: "sequencer", role: "sequencer", stats });
    else if (s.role === "replica") nodes.push({ id: s.id ?? base.host, role: "replica", stats, feed: `ws://${base.host}/feed` });
    else throw new UserError(`${stats} is not a Lockstep sequencer or replica`);
  }
  const log = makeLogger("dashboard");
  const d = new DashboardServer({ host: "127.0.0.1", port, nodes, instrument, log });
  const p = await d.start();
  process.stdout.write(`dashboard: http://127.0.0.1:${p}/\n`);
  return new Promise((done) => {
    const stop = (): void => {
      d.stop();
      done(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
