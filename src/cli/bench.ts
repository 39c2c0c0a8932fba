/** `lockstep bench engine`: runs bench/engine-bench and refreshes the README's generated section. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { markdownTable, runEngineBench } from "../../bench/engine-bench.js";
import { numberFlag, parse, UserError } from "./args.js";
import { runSlowConsumerBench } from "../drill/slow-consumers.js";
import { loadConfig } from "./config.js";
import { DEFAULT_CONFIG } from "./nodes.js";
import { mkdirSync } from "node:fs";

const REPO = join(import.meta.dirname, "..", "..", "..");
const LOBSTER_MESSAGES = join(REPO, "..", "shared", "data", "lobster", "AAPL_2012-06-21_34200000_57600000_message_10.csv");

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in the README, if both are there. */
export function updateReadmeSection(readme: string, name: string, body: string): boolean {
  if (!existsSync(readme)) return false;
  const text = readFileSync(readme, "utf8");
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  writeFileSync(readme, `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`);
  return true;
}

async function runSlowConsumers(rest: string[]): Promise<number> {
  const { values: v } = parse(rest, { config: { type: "string" }, rate: { type: "string" }, duration: { type: "string" }, stalled: { type: "string" }, flood: { type: "string" }, json: { type: "boolean" }, results: { type: "string" } });
  const num = (name: string, fallback: number, max: number): number => numberFlag(v, name, fallback, 0, max, true);
  const baseConfig = String(v.config ?? DEFAULT_CONFIG);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const o = { baseConfig, config: loadConfig(baseConfig), ratePerS: num("rate", 100, 10_000), durationS: num("duration", 5, 600), stalled: num("stalled", 100, 10_000), floodFactor: num("flood", 10, 100), log };
  log(`$ lockstep bench slow-consumers ${rest.join(" ")}`.trim());
  const result = await runSlowConsumerBench(o);
  const dir = typeof v.results === "string" ? v.results : join(REPO, "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "slow-consumers-latest.json"), `${JSON.stringify({ date: new Date().toISOString(), command: `lockstep bench slow-consumers ${rest.join(" ")}`.trim(), ...result }, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

export async function runBench(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === "slow-consumers") return runSlowConsumers(rest);
  if (what !== "engine") throw new UserError(`bench needs a target: engine or slow-consumers${what === undefined ? "" : ` (not "${what}")`}`, 2);
  const { values: v } = parse(rest, { quick: { type: "boolean" }, json: { type: "boolean" }, lobster: { type: "string" } });
  const json = v.json === true;
  const command = `lockstep bench engine${v.quick === true ? " --quick" : ""}${json ? " --json" : ""}`;
  const result = runEngineBench({
    quick: v.quick === true,
    resultsDir: join(REPO, "bench", "results"),
    lobsterFile: typeof v.lobster === "string" ? v.lobster : LOBSTER_MESSAGES,
    log: (line) => (json ? process.stderr : process.stdout).write(`${line}\n`),
  }, command);
  updateReadmeSection(join(REPO, "README.md"), "bench:engine", markdownTable(result));
  if (json) {
    const scenarios = result.scenarios.map((s) => ({ name: s.name, depth: s.depth, lockstep_ops_per_s: s.lockstep_ops_per_s, peer_ops_per_s: s.peer_ops_per_s, ratio: s.ratio, p50_ns: s.p50_ns, p99_ns: s.p99_ns, p999_ns: s.p999_ns }));
    process.stdout.write(`${JSON.stringify({ scenarios, bytes_per_resting_order: result.bytes_per_resting_order, lobster_replay_ops_per_s: result.lobster_replay_ops_per_s })}\n`);
  }
  return 0;
}
