/** `lockstep replay`: wires files and flags to src/replay. */
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { BadLineError, replayJsonl } from "../replay/jsonl.js";
import { LobsterParseError, replayLobster } from "../replay/lobster.js";
import { parse, UserError } from "./args.js";

const PROBLEMS_SHOWN_MAX = 20;

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

function problemPrinter(): { report: (m: string) => void; finish: () => void } {
  let n = 0;
  return {
    report: (m) => {
      if (++n <= PROBLEMS_SHOWN_MAX) process.stderr.write(`lockstep: ${m}\n`);
    },
    finish: () => {
      if (n > PROBLEMS_SHOWN_MAX) process.stderr.write(`lockstep: … and ${n - PROBLEMS_SHOWN_MAX} more\n`);
    },
  };
}

export async function runReplay(args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, {
    format: { type: "string" }, "trades-out": { type: "string" }, "book-out": { type: "string" }, "check-book": { type: "string" },
    strict: { type: "boolean" }, json: { type: "boolean" }, explain: { type: "boolean" },
  });
  if (positionals.length !== 1) throw new UserError("replay needs exactly one input FILE", 2);
  const file = positionals[0]!;
  const problems = problemPrinter();
  const strict = v.strict === true;
  try {
    if (v.format === "jsonl") {
      const trades = typeof v["trades-out"] === "string" ? new LineSink(v["trades-out"]) : undefined;
      const { summary, engine } = await replayJsonl(file, { strict, onProblem: problems.report, onTrade: trades && ((l) => trades.write(l)) });
      trades?.close();
      if (typeof v["book-out"] === "string") writeFileSync(v["book-out"], `${JSON.stringify(engine.depth(1))}\n`);
      problems.finish();
      print(summary, v.json === true, `${summary.commands} commands, ${summary.trades} trades, ${summary.rejects} rejects, ${summary.bad_lines} bad lines; hash ${summary.hash}; ${summary.ops_per_s.toLocaleString("en-US")} ops/s (engine time)`);
      return 0;
    }
    if (v.format === "lobster") {
      const bookFile = typeof v["check-book"] === "string" ? v["check-book"] : undefined;
      const { summary, replay } = replayLobster(file, { strict, onProblem: problems.report, ...(bookFile === undefined ? {} : { bookFile }) });
      problems.finish();
      if (v.explain === true) for (const d of replay.differences) process.stderr.write(`event ${d.event}: ${d.kind}: ${d.detail}\n`);
      print(summary, v.json === true, `${summary.events} events, ${summary.executions} executions, ${summary.fill_mismatches} fill mismatches, ${summary.book_mismatches} book mismatches, ${summary.seeds} seeds, ${summary.unknown_ids} unknown ids; ${summary.ops_per_s.toLocaleString("en-US")} events/s`);
      return 0;
    }
  } catch (err) {
    if (err instanceof BadLineError || err instanceof LobsterParseError) throw new UserError(`${file}: ${err.message}`);
    throw err;
  }
  throw new UserError(`--format must be jsonl or lobster${v.format === undefined ? "" : `, not "${String(v.format)}"`}`, 2);
}

function print(summary: object, json: boolean, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `${human}\n`);
}
