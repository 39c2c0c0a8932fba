/**
 * Capacity past one machine, by simulation (src/shard/capacity.ts; docs/scaling.md): what 1 … N
 * shards carry with the CPU cost per order of each node as the last `lockstep bench e2e
 * --gateway` run measured it (read from its result file, not typed in), a skewed popularity over
 * the instruments, and a share of the orders through gateways.
 *
 *   npm run build && node dist/bench/capacity.js [--costs bench/results/e2e-latest.json]
 *     [--shards 1,2,4,8,16,32] [--instruments 10000] [--skew 1.0] [--gateway-share 0.5]
 *     [--gateways 4] [--utilization 0.7] [--trials 50] [--seed 1] [--results DIR] [--json]
 *
 * Writes capacity-latest.json and capacity-latest.md to the results directory (bench/results by default).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { capacity, SHARD_COUNT_MAX, TRIALS_MAX, type NodeCosts, type Workload } from "../src/shard/capacity.js";

const { values: v } = parseArgs({
  options: {
    costs: { type: "string", default: "bench/results/e2e-latest.json" }, shards: { type: "string", default: "1,2,4,8,16,32" },
    instruments: { type: "string", default: "10000" }, skew: { type: "string", default: "1.0" }, "gateway-share": { type: "string", default: "0.5" },
    gateways: { type: "string", default: "4" }, utilization: { type: "string", default: "0.7" }, trials: { type: "string", default: "50" },
    seed: { type: "string", default: "1" }, results: { type: "string", default: "bench/results" }, json: { type: "boolean" },
  },
});

function fail(msg: string): never {
  process.stderr.write(`capacity: ${msg}\n`);
  process.exit(2);
}
function num(name: string, min: number, max: number, integer: boolean): number {
  const x = Number(v[name as keyof typeof v]);
  if (!Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) fail(`--${name} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, not "${String(v[name as keyof typeof v])}"`);
  return x;
}

const shardCounts = String(v.shards).split(",").map((s) => Number(s));
if (shardCounts.some((n) => !Number.isInteger(n) || n < 1 || n > SHARD_COUNT_MAX)) fail(`--shards is a comma-separated list of integers from 1 to ${SHARD_COUNT_MAX}, not "${v.shards}"`);
const w: Workload = {
  instruments: num("instruments", 1, 100_000, true), skew: num("skew", 0, 4, false), gatewayShare: num("gateway-share", 0, 1, false),
  gateways: num("gateways", 1, 1_000, true), utilizationMax: num("utilization", 0.05, 1, false),
};
const trials = num("trials", 1, TRIALS_MAX, true);
const seed = num("seed", 0, 2 ** 32 - 1, true);

// The costs: the Lockstep run of the e2e record (sequencer, r1 serves the clients, r2 and r3 nobody) and its gateway run's gateway.
interface E2e { command: string; date?: string; headline: { cpu_us_per_order: { lockstep: { processes: Record<string, number> } }; gateway?: { cpu_us_per_order: { processes: Record<string, number> } } } }
let e2e: E2e;
try {
  e2e = JSON.parse(readFileSync(String(v.costs), "utf8")) as E2e;
} catch (err) {
  fail(`cannot read the costs from ${v.costs} (a \`lockstep bench e2e --gateway\` result): ${(err as Error).message}`);
}
const p = e2e.headline?.cpu_us_per_order?.lockstep?.processes;
const gw = e2e.headline?.gateway?.cpu_us_per_order?.processes?.gateway;
if (p?.sequencer === undefined || p.r1 === undefined || p.r2 === undefined || gw === undefined) fail(`${v.costs} has no CPU cost per order for the sequencer, r1, r2 and a gateway (run \`lockstep bench e2e --gateway\`)`);
const costs: NodeCosts = { sequencer: p.sequencer, servingReplica: p.r1, replica: Math.max(p.r2, p.r3 ?? 0), gateway: gw };

const rows = capacity(costs, w, shardCounts, trials, seed);

const result = {
  date: new Date().toISOString(),
  command: `node dist/bench/capacity.js ${process.argv.slice(2).join(" ")}`.trim(),
  model: "src/shard/capacity.ts: placement by the shard rule, Zipf popularity, a core per node, costs per order as measured",
  costs_from: { file: String(v.costs), command: e2e.command, date: e2e.date ?? null },
  costs_us_per_order: costs,
  workload: { ...w, trials, seed },
  rows,
};

const md = [
  `# Capacity by simulation`,
  ``,
  `\`${result.command}\` (${result.date}); costs per order from \`${e2e.command}\`: sequencer ${costs.sequencer} µs, serving replica ${costs.servingReplica} µs, other replicas ${costs.replica} µs, gateway ${costs.gateway} µs.`,
  `${w.instruments} instruments, Zipf skew ${w.skew}, ${Math.round(w.gatewayShare * 100)} % of orders through ${w.gateways} gateways, each node at most ${Math.round(w.utilizationMax * 100)} % of a core.`,
  ``,
  `| shards | max orders/s (median) | lowest | limited by | of N × one shard | busiest shard's share (median / max) | hottest instrument's share |`,
  `|---:|---:|---:|---|---:|---|---:|`,
  ...rows.map((r) => `| ${r.shards} | ${r.max_rate_per_s.median.toLocaleString("en-US")} | ${r.max_rate_per_s.min.toLocaleString("en-US")} | ${r.limited_by} | ${(r.efficiency * 100).toFixed(1)} % | ${(r.busiest_share.median * 100).toFixed(2)} % / ${(r.busiest_share.max * 100).toFixed(2)} % | ${(r.hottest_share_median * 100).toFixed(2)} % |`),
  ``,
].join("\n");

mkdirSync(String(v.results), { recursive: true });
writeFileSync(join(String(v.results), "capacity-latest.json"), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(String(v.results), "capacity-latest.md"), md);
process.stdout.write(v.json === true ? `${JSON.stringify(result)}\n` : md);
