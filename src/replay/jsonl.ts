/**
 * `lockstep replay --format jsonl`: applies a file of commands, one JSON object per line, to
 * the engine. Text ids and accounts are mapped to integers here, outside the engine. A bad
 * line is reported with its file, line number and reason and skipped (or stops the replay when
 * strict); the engine's own rejects are counted apart. Lines are held to the same rules as
 * LOBSTER's: numbers are plain decimal integers, a field is given once, an empty line is a bad
 * line, a binary file is refused. ops_per_s times the engine alone, not the parsing.
 */
import { z } from "zod";
import { Engine, NullListener, REASON_NAME, Side, Stp, Tif, type Command, type InstrumentConfig, type Reason } from "../engine/index.js";
import { BadLine, LineReader, ReplayInputError } from "./lines.js";

/**
 * Replayed instruments take any price up to 2^32 − 1 and any quantity up to 2^21 − 1: the
 * widest pair whose product (an order's largest possible notional) is still a safe integer,
 * with room for equity prices in LOBSTER's 1/10,000-dollar units.
 */
export const REPLAY_PRICE_MAX = 2 ** 32 - 1;
export const REPLAY_QTY_MAX = 2 ** 21 - 1;

export const REPLAY_INSTRUMENT: InstrumentConfig = {
  id: 1, symbol: "REPLAY", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: REPLAY_QTY_MAX, priceMin: 1, priceMax: REPLAY_PRICE_MAX,
};

const text = z.string().min(1).max(128);
const count = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const side = z.enum(["buy", "sell"]);
const LineSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("limit"), id: text, account: text, side, price: count, qty: count, tif: z.enum(["GTC", "IOC", "FOK"]).default("GTC"), postOnly: z.boolean().default(false) }).strict(),
  z.object({ type: z.literal("market"), id: text, account: text, side, qty: count }).strict(),
  z.object({ type: z.literal("cancel"), id: text }).strict(),
  z.object({ type: z.literal("modify"), id: text, price: count, qty: count }).strict(),
]);

export interface JsonlSummary {
  commands: number;
  trades: number;
  rejects: number;
  bad_lines: number;
  hash: string;
  ops_per_s: number;
}

export interface JsonlOptions {
  /** Stop at the first bad line (throwing its BadLine) instead of skipping it. */
  readonly strict: boolean;
  /** Called once per trade with the JSON line to write (without newline). */
  readonly onTrade?: (line: string) => void;
  /** Each bad line, as it is met. */
  readonly onBadLine?: (e: BadLine) => void;
  /** Each command the engine refused, as a one-line message naming the file and line. */
  readonly onReject?: (message: string) => void;
}

/** Maps text ids to dense integers (1, 2, …) and back. */
export class Names {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [""];
  id(name: string): number {
    let n = this.ids.get(name);
    if (n === undefined) {
      n = this.names.length;
      this.ids.set(name, n);
      this.names.push(name);
    }
    return n;
  }
}

class ReplayListener extends NullListener {
  trades = 0;
  rejects = 0;
  lastReject: Reason = 0;
  constructor(private readonly orders: Names, private readonly onTrade?: (line: string) => void) {
    super();
  }
  override rejected(_orderId: number, _account: number, reason: Reason): void {
    this.rejects++;
    this.lastReject = reason;
  }
  override trade(_i: number, _t: number, makerId: number, _ma: number, takerId: number, _ta: number, _s: Side, price: number, qty: number): void {
    this.trades++;
    if (this.onTrade !== undefined) {
      this.onTrade(JSON.stringify({ maker: this.orders.names[makerId], taker: this.orders.names[takerId], price, qty }));
    }
  }
}

function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0]!;
  const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${where}${issue.message}`;
}

function toCommand(v: z.infer<typeof LineSchema>, orders: Names, accounts: Names): Command {
  const orderId = orders.id(v.id);
  switch (v.type) {
    case "limit":
      return { type: "limit", instrument: 1, orderId, account: accounts.id(v.account), side: v.side === "buy" ? Side.BUY : Side.SELL, price: v.price, qty: v.qty, tif: Tif[v.tif], postOnly: v.postOnly, stp: Stp.NONE };
    case "market":
      return { type: "market", instrument: 1, orderId, account: accounts.id(v.account), side: v.side === "buy" ? Side.BUY : Side.SELL, qty: v.qty };
    case "cancel":
      return { type: "cancel", orderId, account: 0 };
    case "modify":
      return { type: "modify", orderId, account: 0, price: v.price, qty: v.qty };
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** A JSON number as written; the sticky flag matches it exactly where the scan stands. */
const JSON_NUMBER = /-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const PLAIN_COUNT = /^(?:0|[1-9][0-9]*)$/;

/** Index just past the string literal that opens at `i` (the line is valid JSON, so it closes). */
function stringEnd(line: string, i: number): number {
  for (let j = i + 1; j < line.length; j++) {
    const c = line.charCodeAt(j);
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return line.length;
}

/**
 * What JSON.parse accepts without a word and a replay must not: a field given twice (the last
 * would silently win) and a number written with a sign, a fraction or an exponent (every
 * number in a command is a count: 1e2 is refused, not read as 100). Runs on a line JSON.parse
 * accepted. Returns the reason, or null.
 */
function literalProblem(line: string): string | null {
  const keys = new Set<string>();
  let depth = 0;
  let key = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      const end = stringEnd(line, i);
      if (depth === 1 && line.slice(end).trimStart().startsWith(":")) {
        key = JSON.parse(line.slice(i, end)) as string;
        if (keys.has(key)) return `${key}: the field is given twice`;
        keys.add(key);
      }
      i = end - 1;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === "-" || (c >= "0" && c <= "9")) {
      JSON_NUMBER.lastIndex = i;
      const token = JSON_NUMBER.exec(line)![0];
      if (token.startsWith("-")) return `${key}: ${token}: no sign belongs here`;
      if (!PLAIN_COUNT.test(token)) return `${key}: ${token} is not a plain decimal integer (no fraction or exponent)`;
      i += token.length - 1;
    }
  }
  return null;
}

/** Parses one line; returns a command or throws BadLine with the reason. */
export function parseLine(line: string, file: string, lineNo: number, orders: Names, accounts: Names): Command {
  if (line.trim() === "") throw new BadLine(file, lineNo, "empty line");
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new BadLine(file, lineNo, "not valid JSON");
  }
  const literal = literalProblem(line);
  if (literal !== null) throw new BadLine(file, lineNo, literal);
  const parsed = LineSchema.safeParse(raw);
  if (!parsed.success) throw new BadLine(file, lineNo, describeZodError(parsed.error));
  return toCommand(parsed.data, orders, accounts);
}

/** Commands parsed per batch before the batch is applied, so the engine's time is taken per batch. */
const BATCH_LINES = 65_536;

export function replayJsonl(file: string, opts: JsonlOptions): { summary: JsonlSummary; engine: Engine; lines: number } {
  const orders = new Names();
  const accounts = new Names();
  const listener = new ReplayListener(orders, opts.onTrade);
  const engine = new Engine([REPLAY_INSTRUMENT], listener);
  const batch: { cmd: Command; lineNo: number }[] = [];
  let commands = 0;
  let badLines = 0;
  let engineNs = 0n;
  const rejected: [lineNo: number, reason: Reason][] = [];
  const flush = (): void => {
    const t0 = process.hrtime.bigint();
    for (const { cmd, lineNo } of batch) {
      if (engine.apply(cmd) !== 0) rejected.push([lineNo, listener.lastReject]);
    }
    engineNs += process.hrtime.bigint() - t0;
    // Reported after the timed loop so that writing messages is not counted as engine time.
    for (const [lineNo, reason] of rejected) opts.onReject?.(`${file} line ${lineNo}: rejected by the engine: ${REASON_NAME[reason]}`);
    rejected.length = 0;
    commands += batch.length;
    batch.length = 0;
  };
  const reader = new LineReader(file, "utf8");
  try {
    for (;;) {
      try {
        const line = reader.next();
        if (line === null) break;
        batch.push({ cmd: parseLine(line, file, reader.lineNo, orders, accounts), lineNo: reader.lineNo });
      } catch (err) {
        if (!(err instanceof BadLine) || opts.strict) throw err;
        badLines++;
        opts.onBadLine?.(err);
      }
      if (batch.length >= BATCH_LINES) flush();
    }
  } finally {
    reader.close();
  }
  if (reader.lineNo === 0) throw new ReplayInputError(`${file} is empty: no commands to replay`);
  flush();
  const seconds = Number(engineNs) / 1e9;
  const summary: JsonlSummary = {
    commands, trades: listener.trades, rejects: listener.rejects, bad_lines: badLines, hash: engine.stateHash(),
    ops_per_s: seconds > 0 ? Math.round(commands / seconds) : 0,
  };
  return { summary, engine, lines: reader.lineNo };
}
