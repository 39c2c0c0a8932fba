/**
 * The LOBSTER file formats, read strictly: what a message line and an orderbook row may hold,
 * and the reason in words when they hold something else. Numbers are plain decimal integers
 * (no exponent, no hex, no empty field, a sign only where LOBSTER writes one), times are
 * seconds after midnight that never decrease, and every row of one file has the same layout.
 * No I/O here: src/replay/lobster.ts reads the files and pairs their lines.
 */
import { Side } from "../engine/index.js";
import { BadLine, quote } from "./lines.js";

/** LOBSTER's price for an empty ask level (the bid side writes its negative), always with size 0. */
export const DUMMY_ASK = 9_999_999_999;
/** Order ids the files may use; the replay's own synthetic orders are numbered above this. */
export const FILE_ORDER_ID_MAX = 2 ** 51 - 1;
/** A day has 86,400 s; LOBSTER times are seconds after midnight. */
const DAY_NS = 86_400 * 1_000_000_000;
/** An MPID is 4 letters; the limit leaves room for other attribution codes. */
const ATTRIBUTION_CHARS_MAX = 16;
/** Digits a number may have: every safe integer fits in 16. */
const DIGITS_MAX = 16;

export const MESSAGE_FIELDS = ["time", "type", "order id", "size", "price", "direction", "attribution"] as const;
/** Message files have 6 columns, or 7 with the attribution (MPID) column of newer files. */
const MESSAGE_COLUMNS = [6, 7] as const;
/** Orderbook rows hold, per level: ask price, ask size, bid price, bid size. */
export const BOOK_COLUMNS_PER_LEVEL = 4;

export interface LobsterMessage {
  /** Line in the message file; also the event's number and its row in the orderbook file. */
  readonly line: number;
  /** The time as written (seconds after midnight). */
  readonly time: string;
  readonly timeNs: number;
  readonly type: number;
  readonly id: number;
  readonly size: number;
  readonly price: number;
  /** Side of the order named by `id`. */
  readonly side: Side;
  /** The 7th column (market participant id), or null when absent or written `null`. */
  readonly attribution: string | null;
}

/** One orderbook row: the visible levels, best first, [price, size]. */
export interface BookRow {
  readonly asks: [number, number][];
  readonly bids: [number, number][];
}

/** A reason a field or row is refused; the caller adds the file and line. */
class Problem extends Error {}

interface NumberRule {
  readonly min: number;
  readonly max: number;
}
/** ITCH carries an order's shares in 32 bits, so no message size is larger. */
const SHARES: NumberRule = { min: 1, max: 2 ** 32 - 1 };
const NON_NEGATIVE: NumberRule = { min: 0, max: Number.MAX_SAFE_INTEGER };
const ORDER_ID: NumberRule = { min: 1, max: FILE_ORDER_ID_MAX };
/** Cross trades (type 6) name pseudo orders with negative ids: −1 opening cross, −2 closing cross, −3/−4 others. */
const CROSS_ID: NumberRule = { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
/** Halts (type 7) carry −1 (halt begins), 0 (quoting resumes) or 1 (trading resumes) as their price. */
const HALT_PRICE: NumberRule = { min: -1, max: 1 };
const PRICE: NumberRule = { min: 1, max: DUMMY_ASK - 1 };

/** What each event type (1..7) allows in its order id, size and price. */
const EVENT_RULES: readonly { readonly id: NumberRule; readonly size: NumberRule; readonly price: NumberRule }[] = [
  { id: ORDER_ID, size: SHARES, price: PRICE }, // 1 add
  { id: ORDER_ID, size: SHARES, price: PRICE }, // 2 partial cancel
  { id: ORDER_ID, size: SHARES, price: PRICE }, // 3 delete
  { id: ORDER_ID, size: SHARES, price: PRICE }, // 4 visible execution
  { id: { min: 0, max: FILE_ORDER_ID_MAX }, size: SHARES, price: PRICE }, // 5 hidden execution (id 0 in files after 2010)
  { id: CROSS_ID, size: NON_NEGATIVE, price: NON_NEGATIVE }, // 6 cross trade
  { id: NON_NEGATIVE, size: NON_NEGATIVE, price: HALT_PRICE }, // 7 halt
];

const DECIMAL = /^-?[0-9]+$/;
const TIME = /^([0-9]{1,5})(?:\.([0-9]{1,9}))?$/;
const ATTRIBUTION = /^[\x21-\x7e]+$/;

/** A plain decimal integer within `rule`; the name says which field, for the message. */
function integer(text: string, name: string, rule: NumberRule): number {
  if (!DECIMAL.test(text) || text.replace("-", "").length > DIGITS_MAX) throw new Problem(`${name} ${quote(text)} is not a decimal integer`);
  if (text.startsWith("-") && rule.min >= 0) throw new Problem(`${name} ${quote(text)}: no sign belongs here`);
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < rule.min || v > rule.max) throw new Problem(`${name} ${text} is out of range (${rule.min} to ${rule.max})`);
  return v;
}

/** Seconds after midnight with up to 9 decimals (ns), as integer ns. */
function timeNs(text: string): number {
  const m = TIME.exec(text);
  if (m === null) throw new Problem(`time ${quote(text)} is not seconds after midnight (digits, then up to 9 decimals)`);
  const ns = Number(m[1]) * 1_000_000_000 + Number((m[2] ?? "").padEnd(9, "0"));
  if (ns >= DAY_NS) throw new Problem(`time ${text} is not within a day (86400 s)`);
  return ns;
}

function columnsProblem(n: number, layout: number, lineNo: number, terminated: boolean): Problem {
  const want = layout === 0 ? `6 or 7 (${MESSAGE_FIELDS.slice(0, 6).join(", ")}[, attribution])` : `${layout}, as the file's first good line has`;
  let hint = "";
  if (!terminated && n < Math.max(layout, MESSAGE_COLUMNS[0])) hint = " (the last line has no newline: the file looks truncated)";
  else if (n >= BOOK_COLUMNS_PER_LEVEL && n % BOOK_COLUMNS_PER_LEVEL === 0) hint = " (is this an orderbook file?)";
  else if (lineNo === 1) hint = " (a header row? LOBSTER files have none)";
  return new Problem(`${n} comma-separated fields, expected ${want}${hint}`);
}

/** Reads message lines in file order; keeps the layout (6 or 7 columns) and the last time, which the next line must not precede. */
export class MessageParser {
  /** 6 or 7 once the first good line has fixed it; 0 before. */
  columns = 0;
  private last: { timeNs: number; time: string; line: number } | null = null;

  constructor(readonly file: string) {}

  /** Throws BadLine with the reason when the line is not a LOBSTER message. */
  parse(text: string, lineNo: number, terminated = true): LobsterMessage {
    try {
      const m = this.fields(text, lineNo, terminated);
      if (this.last !== null && m.timeNs < this.last.timeNs) {
        throw new Problem(`time ${m.time} is earlier than ${this.last.time} on line ${this.last.line}: times must not decrease`);
      }
      this.last = { timeNs: m.timeNs, time: m.time, line: lineNo };
      if (this.columns === 0) this.columns = text.split(",").length;
      return m;
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      const header = lineNo === 1 && /[A-Za-z]/.test(text.split(",")[0] ?? "") && !err.message.includes("header") ? " (a header row? LOBSTER files have none)" : "";
      throw new BadLine(this.file, lineNo, `${err.message}${header}`);
    }
  }

  private fields(text: string, lineNo: number, terminated: boolean): LobsterMessage {
    if (text === "") throw new Problem("empty line");
    const f = text.split(",");
    const n = f.length;
    if ((this.columns === 0 && n !== MESSAGE_COLUMNS[0] && n !== MESSAGE_COLUMNS[1]) || (this.columns !== 0 && n !== this.columns)) {
      throw columnsProblem(n, this.columns, lineNo, terminated);
    }
    const ns = timeNs(f[0]!);
    const type = integer(f[1]!, "type", { min: 0, max: Number.MAX_SAFE_INTEGER });
    const rule = EVENT_RULES[type - 1];
    if (rule === undefined) throw new Problem(`unknown event type ${type} (LOBSTER has 1 to 7)`);
    const id = integer(f[2]!, "order id", rule.id);
    const size = integer(f[3]!, "size", rule.size);
    const price = integer(f[4]!, "price", rule.price);
    if (f[5] !== "1" && f[5] !== "-1") throw new Problem(`direction ${quote(f[5]!)} must be 1 (buy) or -1 (sell)`);
    let attribution: string | null = null;
    if (n === 7) {
      const a = f[6]!;
      if (!ATTRIBUTION.test(a) || a.length > ATTRIBUTION_CHARS_MAX) throw new Problem(`attribution ${quote(a)} is not a participant id (1 to ${ATTRIBUTION_CHARS_MAX} printable characters) or null`);
      attribution = a === "null" ? null : a;
    }
    return { line: lineNo, time: f[0]!, timeNs: ns, type, id, size, price, side: f[5] === "1" ? Side.BUY : Side.SELL, attribution };
  }
}

/** One side of a row, level by level: prices strictly better to worse, empty levels (size 0) only after the last full one. */
class SideReader {
  readonly levels: [number, number][] = [];
  private ended = false;
  constructor(private readonly name: "ask" | "bid") {}

  level(priceText: string, sizeText: string, level: number): void {
    const dummy = this.name === "ask" ? DUMMY_ASK : -DUMMY_ASK;
    // Fields are checked in column order, so a header row is named by its first field.
    const rawPrice = integer(priceText, `${this.name} price ${level}`, { min: -DUMMY_ASK, max: DUMMY_ASK });
    const size = integer(sizeText, `${this.name} size ${level}`, NON_NEGATIVE);
    if (size === 0) {
      if (rawPrice !== dummy) integer(priceText, `${this.name} price ${level}`, PRICE);
      this.ended = true;
      return;
    }
    const price = integer(priceText, `${this.name} price ${level}`, PRICE);
    if (this.ended) throw new Problem(`${this.name} level ${level} has ${size} shares after an empty level`);
    const prev = this.levels.at(-1);
    if (prev !== undefined && (this.name === "ask" ? price <= prev[0] : price >= prev[0])) {
      throw new Problem(`${this.name} level ${level} (${price}) is not ${this.name === "ask" ? "above" : "below"} level ${level - 1} (${prev[0]})`);
    }
    this.levels.push([price, size]);
  }
}

/** Parses one orderbook row of `levels` levels; throws BadLine with the reason. */
export function parseBookRow(text: string, file: string, lineNo: number, levels: number, terminated = true): BookRow {
  try {
    if (text === "") throw new Problem("empty line");
    const f = text.split(",");
    if (f.length !== levels * BOOK_COLUMNS_PER_LEVEL) {
      const cut = terminated ? "" : " (the last line has no newline: the file looks truncated)";
      throw new Problem(`${f.length} comma-separated fields, expected ${levels * BOOK_COLUMNS_PER_LEVEL} (${levels} level${levels === 1 ? "" : "s"} of ask price, ask size, bid price, bid size)${cut}`);
    }
    const asks = new SideReader("ask");
    const bids = new SideReader("bid");
    for (let l = 0; l < levels; l++) {
      const c = l * BOOK_COLUMNS_PER_LEVEL;
      asks.level(f[c]!, f[c + 1]!, l + 1);
      bids.level(f[c + 2]!, f[c + 3]!, l + 1);
    }
    const [ask, bid] = [asks.levels[0], bids.levels[0]];
    if (ask !== undefined && bid !== undefined && bid[0] >= ask[0]) throw new Problem(`the row is crossed: best bid ${bid[0]} is not below best ask ${ask[0]}`);
    return { asks: asks.levels, bids: bids.levels };
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    throw new BadLine(file, lineNo, err.message);
  }
}

/** What a file's LOBSTER name says (TICKER_DATE_START_END_message_LEVEL.csv), if it has one. */
export function lobsterName(path: string): { readonly stem: string; readonly kind: "message" | "orderbook"; readonly levels: number } | undefined {
  const m = /^(.+)_(message|orderbook)_([0-9]{1,4})\.csv$/i.exec(path.split(/[\\/]/).at(-1) ?? "");
  return m === null ? undefined : { stem: m[1]!, kind: m[2]!.toLowerCase() as "message" | "orderbook", levels: Number(m[3]) };
}

/** Parses a whole message text (a test or benchmark convenience; replays stream their files). */
export function parseMessages(text: string, onBad: (e: BadLine) => void, file = "messages"): LobsterMessage[] {
  const parser = new MessageParser(file);
  const out: LobsterMessage[] = [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((line, i) => {
    try {
      out.push(parser.parse(line.endsWith("\r") ? line.slice(0, -1) : line, i + 1));
    } catch (err) {
      if (!(err instanceof BadLine)) throw err;
      onBad(err);
    }
  });
  return out;
}
