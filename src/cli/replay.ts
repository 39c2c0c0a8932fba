/** `lockstep replay`: wires files and flags to src/replay. */
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { replayJsonl } from "../replay/jsonl.js";
import { BadLine, ReplayInputError } from "../replay/lines.js";
import { FILL_MISMATCH_KINDS, replayLobster, type Difference, type LobsterSummary } from "../replay/lobster.js";
import { parse, UserError } from "./args.js";

const PROBLEMS_SHOWN_MAX = 20;
/** Bad lines printed one by one before the rest are only counted: enough to see the pattern. */
const BAD_LINES_SHOWN_MAX = 10;

/** Buffers output lines and writes them in large chunks. */
class LineSink {
  private readonly fd: number;
  private buf: string[] = [];
  constructor(path: string) {
    this.fd = openSync(path, "w");
  }
  write(line: string): void {
    this.buf.push(line);
    if (this.buf.length >= 4096) this.flush();
  }
  flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, `${this.buf.join("\n")}\n`);
    this.buf = [];
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Prints each engine reject up to PROBLEMS_SHOWN_MAX, then how many more there were. */
function problemPrinter(): { report: (m: string) => void; finish: () => void } {
  let n = 0;
  return {
    report: (m) => {
      if (++n <= PROBLEMS_SHOWN_MAX) process.stderr.write(`lockstep: ${m}\n`);
    },
    finish: () => {
      if (n > PROBLEMS_SHOWN_MAX) process.stderr.write(`lockstep: … and ${n - PROBLEMS_SHOWN_MAX} more rejects\n`);
    },
  };
}

/** Prints each bad line up to BAD_LINES_SHOWN_MAX and, at the end, how many were skipped in all. */
function badLinePrinter(): { report: (e: BadLine) => void; finish: () => void } {
  let n = 0;
  return {
    report: (e) => {
      if (++n <= BAD_LINES_SHOWN_MAX) process.stderr.write(`lockstep: ${e.message}\n`);
    },
    finish: () => {
      if (n > 0) process.stderr.write(`lockstep: skipped ${n} bad line${n === 1 ? "" : "s"}${n > BAD_LINES_SHOWN_MAX ? `; the first ${BAD_LINES_SHOWN_MAX} are shown above` : " (shown above)"}\n`);
    },
  };
}

/** A run that replayed nothing is a failure, whatever else it did. */
function nothingReplayed(file: string, what: string, badLines: number): number {
  process.stderr.write(`lockstep: ${file}: no ${what} replayed: ${badLines === 0 ? "the file holds none" : `every line was bad (${badLines})`}\n`);
  return 1;
}

function explainLine(d: Difference): string {
  return `event ${d.event}${d.attribution === null ? "" : ` (attribution ${d.attribution})`}: ${d.kind}: ${d.detail}\n`;
}

function lobsterLine(s: LobsterSummary): string {
  const kinds = FILL_MISMATCH_KINDS.filter((k) => s.fill_mismatch_kinds[k] > 0).map((k) => `${s.fill_mismatch_kinds[k]} ${k}`);
  return `${s.events} events, ${s.executions} executions, ${s.fill_mismatches} fill mismatches${kinds.length > 0 ? ` (${kinds.join(", ")})` : ""}, ` +
    `${s.book_mismatches} book mismatches, ${s.seeds} seeds, ${s.unknown_ids} unknown ids, ${s.stale_orders_removed} stale orders removed, ` +
    `${s.preopen_orders} pre-open orders (${s.preopen_requeued} queued by their original priority), ${s.cancel_mismatches} cancel mismatches; ` +
    `hash ${s.hash}; ${s.ops_per_s.toLocaleString("en-US")} events/s`;
}

function runJsonl(file: string, v: Record<string, string | boolean | undefined>): number {
  const bad = badLinePrinter();
  const rejects = problemPrinter();
  const trades = typeof v["trades-out"] === "string" ? new LineSink(v["trades-out"]) : undefined;
  const { summary, engine } = replayJsonl(file, { strict: v.strict === true, onBadLine: bad.report, onReject: rejects.report, ...(trades === undefined ? {} : { onTrade: (l: string) => trades.write(l) }) });
  trades?.close();
  if (typeof v["book-out"] === "string") writeFileSync(v["book-out"], `${JSON.stringify(engine.depth(1))}\n`);
  rejects.finish();
  bad.finish();
  print(summary, v.json === true, `${summary.commands} commands, ${summary.trades} trades, ${summary.rejects} rejects, ${summary.bad_lines} bad lines; hash ${summary.hash}; ${summary.ops_per_s.toLocaleString("en-US")} ops/s (engine time)`);
  return summary.commands === 0 ? nothingReplayed(file, "commands", summary.bad_lines) : 0;
}

function runLobster(file: string, v: Record<string, string | boolean | undefined>): number {
  const bookFile = typeof v["check-book"] === "string" ? v["check-book"] : undefined;
  const bad = badLinePrinter();
  const explain = v.explain === true ? (d: Difference): void => void process.stderr.write(explainLine(d)) : undefined;
  const { summary } = replayLobster(file, { strict: v.strict === true, onBadLine: bad.report, ...(explain === undefined ? {} : { onDifference: explain }), ...(bookFile === undefined ? {} : { bookFile }) });
  bad.finish();
  print(summary, v.json === true, lobsterLine(summary));
  return summary.events === 0 ? nothingReplayed(file, "events", summary.bad_lines) : 0;
}

export async function runReplay(args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, {
    format: { type: "string" }, "trades-out": { type: "string" }, "book-out": { type: "string" }, "check-book": { type: "string" },
    strict: { type: "boolean" }, json: { type: "boolean" }, explain: { type: "boolean" },
  });
  if (positionals.length !== 1) throw new UserError("replay needs exactly one input FILE", 2);
  const file = positionals[0]!;
  const foreign = v.format === "jsonl" ? ["check-book", "explain"] : v.format === "lobster" ? ["trades-out", "book-out"] : [];
  for (const flag of foreign) if (v[flag] !== undefined) throw new UserError(`--${flag} does not apply to --format ${String(v.format)}`, 2);
  try {
    if (v.format === "jsonl") return runJsonl(file, v);
    if (v.format === "lobster") return runLobster(file, v);
  } catch (err) {
    if (err instanceof BadLine || err instanceof ReplayInputError) throw new UserError(err.message);
    throw err;
  }
  throw new UserError(`--format must be jsonl or lobster${v.format === undefined ? "" : `, not "${String(v.format)}"`}`, 2);
}

function print(summary: object, json: boolean, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `${human}\n`);
}
