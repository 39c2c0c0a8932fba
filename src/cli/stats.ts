/**
 * `lockstep stats URL…`: a live table across nodes from their /stats endpoints: role, seq and
 * lag, estimated clock offset ± bound, one-way p50/p99 raw against skew-compensated. --once
 * prints one table and exits; --json prints the nodes' stats as one JSON array.
 */
import { getJson } from "../cluster/launcher.js";
import { parse, UserError } from "./args.js";

interface NodeStats {
  role?: string; id?: string; seq?: number;
  replicas?: { id: string; lag: number }[];
  skew?: { offset_us: number; bound_us: number } | null;
  latency?: Record<string, { p50: number; p99: number; count: number }>;
}

const cell = (s: string | number, w: number): string => String(s).padStart(w);

export function statsTable(urls: readonly string[], nodes: readonly (NodeStats | Error)[]): string {
  const lags = new Map<string, number>();
  for (const n of nodes) if (!(n instanceof Error)) for (const r of n.replicas ?? []) lags.set(r.id, r.lag);
  const rows = ["node                 role          seq     lag   offset ± bound µs      one-way raw p50/p99 µs   compensated p50/p99 µs"];
  nodes.forEach((n, i) => {
    if (n instanceof Error) return rows.push(`${urls[i]!.padEnd(20)} unreachable: ${n.message}`);
    const lat = n.latency ?? {};
    const raw = lat.one_way_raw_us;
    const comp = lat.one_way_compensated_us;
    const name = n.id ?? n.role ?? "?";
    rows.push([
      name.padEnd(20), (n.role ?? "?").padEnd(10), cell(n.seq ?? "-", 8), cell(n.role === "replica" ? (lags.get(name) ?? "-") : "-", 7),
      cell(n.skew ? `${n.skew.offset_us} ± ${n.skew.bound_us}` : "-", 22), cell(raw ? `${raw.p50}/${raw.p99}` : "-", 26), cell(comp ? `${comp.p50}/${comp.p99}` : "-", 26),
    ].join(" "));
  });
  return rows.join("\n");
}

export async function runStats(args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, { once: { type: "boolean" }, json: { type: "boolean" } });
  if (positionals.length === 0) throw new UserError("stats needs one or more node URLs (http://HOST:PORT/stats)", 2);
  const urls = positionals.map((u) => (u.endsWith("/stats") ? u : `${u.replace(/\/$/, "")}/stats`));
  const poll = (): Promise<(NodeStats | Error)[]> => Promise.all(urls.map((u) => getJson<NodeStats>(u).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))));
  if (v.json === true) {
    const nodes = await poll();
    process.stdout.write(`${JSON.stringify(nodes.map((n) => (n instanceof Error ? { error: n.message } : n)))}\n`);
    return nodes.some((n) => n instanceof Error) ? 1 : 0;
  }
  const tty = process.stdout.isTTY === true && v.once !== true;
  for (;;) {
    const table = statsTable(urls, await poll());
    process.stdout.write(tty ? `\x1b[H\x1b[2J${table}\n` : `${table}\n`);
    if (v.once === true) return 0;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
