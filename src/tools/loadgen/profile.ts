/**
 * `bench e2e --profile DIR`: V8's sampling CPU profiler in every node process of the run, one
 * `.cpuprofile` per node (Node's `--cpu-prof`, passed through LOCKSTEP_NODE_ARGS to the nodes the
 * launcher starts), renamed after the node, and a summary of each one's self time per function.
 *
 * A profile covers its node's whole life (start-up, the maker's book, the window, the drain),
 * which the window dominates; the profiler's sampling (every 1 ms by default) costs the node a
 * little CPU, so the figures of a profiled run are not the ones to quote.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";

/** Functions listed per node in the summary. */
const TOP_FUNCTIONS = 12;

/** Runs `fn` with the nodes it starts profiled into `dir` (no profile when dir is undefined). */
export async function profiled<T>(dir: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (dir === undefined) return fn();
  mkdirSync(dir, { recursive: true });
  return withNodeArgs(`--cpu-prof --cpu-prof-dir=${dir}`, fn);
}

/** Runs `fn` with `args` added to the node flags of every node it starts (LOCKSTEP_NODE_ARGS). */
export async function withNodeArgs<T>(args: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.LOCKSTEP_NODE_ARGS;
  process.env.LOCKSTEP_NODE_ARGS = `${before ?? ""} ${args}`.trim();
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.LOCKSTEP_NODE_ARGS;
    else process.env.LOCKSTEP_NODE_ARGS = before;
  }
}

/**
 * Renames each node's profile, which Node names CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile,
 * to <node>.cpuprofile; returns the new paths. Call it once the nodes have exited (the profile
 * is written on exit).
 */
export function nameProfiles(dir: string, nodes: readonly { name: string; pid: number | undefined }[]): string[] {
  const files = readdirSync(dir).filter((f) => f.startsWith("CPU.") && f.endsWith(".cpuprofile"));
  const named: string[] = [];
  for (const n of nodes) {
    const f = files.find((x) => x.split(".")[3] === String(n.pid));
    if (f === undefined) continue;
    const to = join(dir, `${n.name}.cpuprofile`);
    renameSync(join(dir, f), to);
    named.push(to);
  }
  return named;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime { fn: string; where: string; self_ms: number; self_pct: number }

/**
 * Self time per function (time sampled in the function itself, not in what it called), the
 * largest first, as DevTools' "Bottom-Up" view sorts it; the percentage is of the node's busy
 * time (every sample but "(idle)"). Zero-based line numbers in the file are shown one-based.
 */
export function selfTimes(file: string, top = TOP_FUNCTIONS): SelfTime[] {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const key = new Map<number, string>();
  for (const n of p.nodes) {
    const c = n.callFrame;
    key.set(n.id, `${c.functionName === "" ? "(anonymous)" : c.functionName}\t${c.url === "" ? "" : `${c.url.replace(/^file:\/\//, "")}:${c.lineNumber + 1}`}`);
  }
  const us = new Map<string, number>();
  let busyUs = 0;
  // Sample k's time is the delta to the next sample (timeDeltas[k + 1]), as DevTools counts it.
  for (let k = 0; k < p.samples.length; k++) {
    const k2 = key.get(p.samples[k]!)!;
    const dt = p.timeDeltas[k + 1] ?? 0;
    us.set(k2, (us.get(k2) ?? 0) + dt);
    if (!k2.startsWith("(idle)")) busyUs += dt;
  }
  return [...us].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => {
    const [fn, where] = k.split("\t") as [string, string];
    return { fn, where, self_ms: Math.round(t / 100) / 10, self_pct: busyUs > 0 ? Math.round((1000 * t) / busyUs) / 10 : 0 };
  });
}

/** The summary in markdown: per profile, its top functions by self time. */
export function profileSummary(files: readonly string[], root: string): string {
  const out: string[] = [
    "Self time per function (the function's own samples, not its callees'), largest first, as a share of the node's busy (non-idle) time.",
    "Open a .cpuprofile in Chrome DevTools (Performance panel, or `chrome://inspect` → Open dedicated DevTools for Node → Profiler → Load) and sort Bottom-Up by Self Time for the full tree.",
  ];
  for (const f of files) {
    out.push("", `### ${f.slice(root.length + 1)}`, "", "| self ms | % busy | function | where |", "|---:|---:|---|---|");
    for (const s of selfTimes(f)) out.push(`| ${s.self_ms} | ${s.self_pct} | ${s.fn} | ${s.where} |`);
  }
  return `${out.join("\n")}\n`;
}
