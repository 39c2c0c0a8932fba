/**
 * Validation of every inbound frame before anything acts on it: the strict reader (wire.ts)
 * first, then version, type, and each field's presence, kind and range. A failure names the
 * field and carries a WireReason code. Every endpoint's frames come in through here: trading
 * clients (/trade), feed clients (/feed) and followers (/replicate).
 */
import { CLIENT_ORDER_ID_LENGTH_MAX, isBookHash, isClientOrderId, isShardName, MOVE_ORDERS_MAX, Side, Stp, Tif } from "../engine/index.js";
import { MsgType, OrdType, PROTOCOL_VERSION, WireReason, type ClientToSequencer, type FeedClientToReplica, type FollowerToSequencer, type MoveMessage, type NewOrder } from "./messages.js";
import { unpackFields, type Fields } from "./wire.js";

export type Validated<T> = { ok: true; msg: T } | { ok: false; code: WireReason; text: string; cid: number };

interface FieldRule {
  readonly name: string;
  readonly required: boolean;
  /**
   * "int" fields are safe integers in [min, max]; "bool" and "string" and "bin" are what they say;
   * "coid" is a client order id, 1–36 visible ASCII characters.
   */
  readonly kind: "int" | "bool" | "string" | "bin" | "coid";
  readonly min?: number;
  readonly max?: number;
}

const INT_MAX = Number.MAX_SAFE_INTEGER;
const id = (name: string): FieldRule => ({ name, required: true, kind: "int", min: 1, max: INT_MAX });
const int = (name: string, min: number, max: number, required = true): FieldRule => ({ name, required, kind: "int", min, max });

/** Login proof fields, optional on the wire; required by the node when authentication is configured. */
const PROOF: readonly FieldRule[] = [
  { name: "key", required: false, kind: "string" }, int("ts", 0, INT_MAX, false),
  { name: "nonce", required: false, kind: "string" }, { name: "sig", required: false, kind: "bin" },
];

const coid: FieldRule = { name: "coid", required: false, kind: "coid" };
const optionalId = (name: string): FieldRule => ({ name, required: false, kind: "int", min: 1, max: INT_MAX });

const CLIENT_RULES: Readonly<Record<number, readonly FieldRule[]>> = {
  [MsgType.HELLO]: [id("acct"), ...PROOF],
  [MsgType.NEW]: [
    int("cid", 0, INT_MAX), id("inst"), int("side", Side.BUY, Side.SELL), int("ord", OrdType.LIMIT, OrdType.OCO), id("qty"),
    optionalId("px"), int("tif", Tif.GTC, Tif.FOK, false), { name: "po", required: false, kind: "bool" },
    int("stp", Stp.NONE, Stp.CANCEL_BOTH, false), optionalId("spx"), optionalId("slpx"), coid,
  ],
  // Exactly one of oid and coid: checked after the fields (validateClientFrame).
  [MsgType.CANCEL]: [int("cid", 0, INT_MAX), optionalId("oid"), coid, optionalId("inst")],
  [MsgType.MODIFY]: [int("cid", 0, INT_MAX), optionalId("oid"), coid, optionalId("inst"), id("px"), id("qty")],
  [MsgType.KILL]: [int("cid", 0, INT_MAX)],
  // The operator's move steps (docs/scaling.md); shard ids and the hash are checked after the fields. Each step names its claim (`mc`).
  // MOVE_CLAIM's `mc` is the claim it replaces, 0 when there is none yet.
  [MsgType.MOVE_CLAIM]: [int("cid", 0, INT_MAX), id("inst"), int("mc", 0, INT_MAX)],
  [MsgType.MOVE_HALT]: [int("cid", 0, INT_MAX), id("inst"), id("mc")],
  [MsgType.MOVE_RESUME]: [int("cid", 0, INT_MAX), id("inst"), id("mc")],
  [MsgType.MOVE_RELEASE]: [int("cid", 0, INT_MAX), id("inst"), id("mc"), { name: "to", required: true, kind: "string" }],
  [MsgType.MOVE_BEGIN]: [
    int("cid", 0, INT_MAX), id("inst"), id("mc"), { name: "from", required: true, kind: "string" }, int("n", 0, MOVE_ORDERS_MAX), int("lpx", 0, INT_MAX),
    { name: "h", required: true, kind: "string" },
  ],
  [MsgType.MOVE_ORDERS]: [int("cid", 0, INT_MAX), id("inst"), id("mc"), { name: "rows", required: true, kind: "bin" }],
  [MsgType.MOVE_END]: [int("cid", 0, INT_MAX), id("inst"), id("mc")],
  [MsgType.MOVE_ABORT]: [int("cid", 0, INT_MAX), id("inst"), id("mc")],
};

/** True for the operator's move messages (MOVE_HALT … MOVE_CLAIM). */
export function isMoveMessage(m: ClientToSequencer): m is MoveMessage {
  return m.t >= MsgType.MOVE_HALT && m.t <= MsgType.MOVE_CLAIM;
}

/**
 * Which NEW fields each order type takes, beyond the ones every NEW has (cid, inst, side, ord,
 * qty). A field the type does not take is refused (FIELD_NOT_APPLICABLE), never ignored: a
 * `tif` on a market order or a `po` on a stop would otherwise be silently dropped. A stop is a
 * stop-limit when it has `px`, a stop-market without; only a stop-limit takes `tif`.
 * docs/protocol.md has the same table.
 */
const NEW_FIELDS: Readonly<Record<string, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  limit: { required: ["px"], optional: ["tif", "po", "stp", "coid"] },
  market: { required: [], optional: ["stp", "coid"] },
  "stop-market": { required: ["spx"], optional: ["stp", "coid"] },
  "stop-limit": { required: ["spx", "px"], optional: ["tif", "stp", "coid"] },
  OCO: { required: ["px", "spx"], optional: ["slpx", "po", "stp", "coid"] },
};
const NEW_COMMON = new Set(["v", "t", "cid", "inst", "side", "ord", "qty"]);
const anOrder = (type: string): string => `${type === "OCO" ? "an" : "a"} ${type} order`;

function orderTypeOf(m: Omit<NewOrder, "v" | "t" | "cid">): string {
  switch (m.ord) {
    case OrdType.MARKET: return "market";
    case OrdType.STOP: return m.px === undefined ? "stop-market" : "stop-limit";
    case OrdType.OCO: return "OCO";
    default: return "limit";
  }
}

const FEED_RULES: Readonly<Record<number, readonly FieldRule[]>> = {
  [MsgType.HELLO]: [id("acct"), ...PROOF],
  [MsgType.SUB_BOOK]: [id("inst")],
  [MsgType.SUB_REPORTS]: [id("acct"), int("from", 0, INT_MAX)],
  [MsgType.INSTRUMENTS]: [],
};

/**
 * A gateway's /feed (docs/scaling.md#the-gateway) takes what a replica's does, and SUB_REPORTS
 * may name one shard (`sh`, its number in the shard map: 0 … 63) to resume it from its own seq.
 */
/** The highest shard number: a shard map has at most 64 shards (SHARDS_MAX in src/shard/rendezvous.ts; test/gateway-ids.test.ts checks the two agree). */
export const SHARD_NUMBER_MAX = 63;
const GATEWAY_FEED_RULES: Readonly<Record<number, readonly FieldRule[]>> = {
  ...FEED_RULES,
  [MsgType.SUB_REPORTS]: [...FEED_RULES[MsgType.SUB_REPORTS]!, int("sh", 0, SHARD_NUMBER_MAX, false)],
};

/** Follower ids and checkpoint hashes are short printable strings. */
const FOLLOWER_RULES: Readonly<Record<number, readonly FieldRule[]>> = {
  [MsgType.SUBSCRIBE]: [
    { name: "rid", required: true, kind: "string" }, id("from"), { name: "chain", required: true, kind: "bin" },
    { name: "sb", required: false, kind: "bool" }, ...PROOF,
  ],
  [MsgType.STATUS]: [
    { name: "rid", required: true, kind: "string" }, int("seq", 0, INT_MAX), int("ck", 0, INT_MAX), { name: "ckh", required: true, kind: "string" },
    int("halt", 1, INT_MAX, false), int("hseq", 1, INT_MAX, false),
  ],
  [MsgType.PING]: [int("t1", 0, INT_MAX)],
};

function checkField(m: Fields, r: FieldRule): { code: WireReason; text: string } | null {
  const x = m[r.name];
  if (x === undefined) return r.required ? { code: WireReason.MISSING_FIELD, text: `field "${r.name}" is required` } : null;
  if (r.kind === "bool") return typeof x === "boolean" ? null : { code: WireReason.OUT_OF_RANGE, text: `field "${r.name}" must be true or false` };
  if (r.kind === "string") return typeof x === "string" && x.length <= 256 ? null : { code: WireReason.OUT_OF_RANGE, text: `field "${r.name}" must be a string of at most 256 characters` };
  if (r.kind === "bin") return x instanceof Uint8Array ? null : { code: WireReason.OUT_OF_RANGE, text: `field "${r.name}" must be binary` };
  if (r.kind === "coid") {
    return isClientOrderId(x) ? null : { code: WireReason.OUT_OF_RANGE, text: `field "${r.name}" must be a string of 1 to ${CLIENT_ORDER_ID_LENGTH_MAX} visible ASCII characters (0x21 to 0x7e: no spaces)` };
  }
  if (typeof x !== "number" || x < r.min! || x > r.max!) {
    return { code: WireReason.OUT_OF_RANGE, text: `field "${r.name}" must be an integer in [${r.min}, ${r.max}]` };
  }
  return null;
}

function validateWith<T>(bytes: Uint8Array, rules: Readonly<Record<number, readonly FieldRule[]>>): Validated<T> {
  const u = unpackFields(bytes);
  if (!u.ok) return u;
  const m = u.msg;
  const cid = typeof m.cid === "number" && m.cid >= 0 ? m.cid : 0;
  if (m.v !== PROTOCOL_VERSION) return { ok: false, code: WireReason.BAD_VERSION, text: `protocol version must be ${PROTOCOL_VERSION}`, cid };
  const fields = typeof m.t === "number" ? rules[m.t] : undefined;
  if (fields === undefined) return { ok: false, code: WireReason.UNKNOWN_TYPE, text: `unknown message type ${String(m.t)}`, cid };
  for (const r of fields) {
    const problem = checkField(m, r);
    if (problem !== null) return { ok: false, ...problem, cid };
  }
  // A field this message does not have is refused, not ignored: a misspelt "po" or "tif" must
  // not quietly turn a post-only or IOC order into a plain one.
  for (const key of Object.keys(m)) {
    if (key !== "v" && key !== "t" && !fields.some((r) => r.name === key)) {
      return { ok: false, code: WireReason.UNKNOWN_FIELD, text: `field "${key}" is not part of message type ${String(m.t)}`, cid };
    }
  }
  return { ok: true, msg: m as unknown as T };
}

/**
 * Checks a frame from a trading client. NEW orders also get their order type's fields checked
 * (NEW_FIELDS); CANCEL and MODIFY must name their order by exactly one of `oid` and `coid`.
 */
export function validateClientFrame(bytes: Uint8Array, instruments: ReadonlySet<number>): Validated<ClientToSequencer> {
  const r = validateWith<ClientToSequencer>(bytes, CLIENT_RULES);
  if (!r.ok) return r;
  const m = r.msg;
  const fail = (code: WireReason, text: string): Validated<ClientToSequencer> => ({ ok: false, code, text, cid: (m as { cid?: number }).cid ?? 0 });
  if (m.t === MsgType.CANCEL || m.t === MsgType.MODIFY) {
    if (m.oid === undefined && m.coid === undefined) return fail(WireReason.MISSING_FIELD, `field "oid" or "coid" is required: the order to ${m.t === MsgType.CANCEL ? "cancel" : "modify"}`);
    if (m.oid !== undefined && m.coid !== undefined) return fail(WireReason.FIELD_NOT_APPLICABLE, `fields "oid" and "coid" both name the order: give one of them`);
    if (m.inst !== undefined && m.coid === undefined) return fail(WireReason.FIELD_NOT_APPLICABLE, `field "inst" goes with "coid" only: an "oid" names the order on its instrument already`);
    if (m.inst !== undefined && !instruments.has(m.inst)) return fail(WireReason.UNKNOWN_INSTRUMENT, `no instrument ${m.inst}`);
    return r;
  }
  if (isMoveMessage(m)) {
    if (!instruments.has(m.inst)) return fail(WireReason.UNKNOWN_INSTRUMENT, `no instrument ${m.inst}`);
    if (m.t === MsgType.MOVE_RELEASE && !isShardName(m.to)) return fail(WireReason.OUT_OF_RANGE, `field "to" must be a shard id: 1-32 ASCII letters, digits, '_' or '-'`);
    if (m.t === MsgType.MOVE_BEGIN && !isShardName(m.from)) return fail(WireReason.OUT_OF_RANGE, `field "from" must be a shard id: 1-32 ASCII letters, digits, '_' or '-'`);
    if (m.t === MsgType.MOVE_BEGIN && !isBookHash(m.h)) return fail(WireReason.OUT_OF_RANGE, `field "h" must be a book hash: 16 lower-case hex digits`);
    return r;
  }
  if (m.t !== MsgType.NEW) return r;
  if (!instruments.has(m.inst)) return fail(WireReason.UNKNOWN_INSTRUMENT, `no instrument ${m.inst}`);
  const problem = newOrderProblem(m);
  return problem === null ? r : fail(problem.code, problem.text);
}

/**
 * The first field a NEW lacks or has against its order type's row of NEW_FIELDS, or null. The
 * SDK asks the same before it sends, so a client learns of the mistake without a round trip.
 */
export function newOrderProblem(m: Omit<NewOrder, "v" | "t" | "cid">): { code: WireReason; text: string } | null {
  const type = orderTypeOf(m);
  const fields = NEW_FIELDS[type]!;
  for (const name of fields.required) {
    if ((m as Record<string, unknown>)[name] === undefined) return { code: WireReason.MISSING_FIELD, text: `field "${name}" is required for ${anOrder(type)}` };
  }
  for (const name of Object.keys(m)) {
    if ((m as Record<string, unknown>)[name] === undefined || NEW_COMMON.has(name)) continue;
    if (!fields.required.includes(name) && !fields.optional.includes(name)) return { code: WireReason.FIELD_NOT_APPLICABLE, text: `field "${name}" does not apply to ${anOrder(type)}` };
  }
  return null;
}

export function validateFeedFrame(bytes: Uint8Array): Validated<FeedClientToReplica> {
  return validateWith<FeedClientToReplica>(bytes, FEED_RULES);
}

export function validateGatewayFeedFrame(bytes: Uint8Array): Validated<FeedClientToReplica> {
  return validateWith<FeedClientToReplica>(bytes, GATEWAY_FEED_RULES);
}

/** Checks a frame from a follower (replica or standby sequencer) on /replicate. */
export function validateFollowerFrame(bytes: Uint8Array): Validated<FollowerToSequencer> {
  return validateWith<FollowerToSequencer>(bytes, FOLLOWER_RULES);
}
