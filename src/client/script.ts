/**
 * The little language of `lockstep client`, one command per line (keywords in any case; a
 * client order id keeps its case):
 *   buy 10 @ 100 [ioc|fok] [post] [id COID]      sell 5 @ 101      buy 3 market [id COID]
 *   stop sell 5 @ 95 [limit 94] [id COID]
 *   oco sell 5 @ 105 stop 95 [limit 94] [post] [id COID]   (a limit leg and a stop leg)
 *   cancel 42 | cancel id COID                   modify 42 101 5 | modify id COID 101 5
 *   book                                         kill (cancel all my orders)       quit
 * Parsing is pure, so it is tested without a network.
 */
import type { OrderRef, OrderRequest } from "./trading.js";

export type ClientLine =
  | { readonly kind: "order"; readonly req: OrderRequest }
  | { readonly kind: "cancel"; readonly order: OrderRef }
  | { readonly kind: "modify"; readonly order: OrderRef; readonly px: number; readonly qty: number }
  | { readonly kind: "book" }
  | { readonly kind: "kill" }
  | { readonly kind: "quit" }
  | { readonly kind: "empty" }
  | { readonly kind: "error"; readonly message: string };

const HELP = "expected: buy|sell QTY @ PRICE [ioc|fok] [post] [id COID] | buy|sell QTY market [id COID] | stop buy|sell QTY @ STOP [limit PRICE] [id COID]"
  + " | oco buy|sell QTY @ PRICE stop STOP [limit PRICE] [post] [id COID] | cancel ID|id COID | modify ID|id COID PRICE QTY | kill | book | quit";
/** What the sequencer takes as a client order id (docs/protocol.md). */
const COID = /^[\x21-\x7e]{1,36}$/;

function int(s: string | undefined): number | null {
  if (s === undefined || !/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

const error = (message: string): ClientLine => ({ kind: "error", message });

/** `words` without a trailing `id COID`, and the coid (undefined: none; null: malformed). */
function takeCoid(words: string[], raw: string[]): { words: string[]; coid: string | undefined | null } {
  const at = words.indexOf("id");
  if (at < 0) return { words, coid: undefined };
  const coid = raw[at + 1];
  if (coid === undefined || !COID.test(coid) || at + 2 !== words.length) return { words, coid: null };
  return { words: words.slice(0, at), coid };
}

/** `42` or `id COID` at the front of `words`: the order named and how many words it took. */
function orderRef(words: string[], raw: string[]): { order: OrderRef; used: number } | null {
  if (words[0] === "id") return raw[1] !== undefined && COID.test(raw[1]) ? { order: { clientOrderId: raw[1] }, used: 2 } : null;
  const oid = int(words[0]);
  return oid === null ? null : { order: oid, used: 1 };
}

export function parseClientLine(line: string, instrument: number): ClientLine {
  const raw = line.trim().split(/\s+/).filter((x) => x !== "");
  const w = raw.map((x) => x.toLowerCase());
  if (w.length === 0 || w[0]!.startsWith("#")) return { kind: "empty" };
  const [verb] = w;
  if (verb === "quit" || verb === "exit") return { kind: "quit" };
  if (verb === "book" && w.length === 1) return { kind: "book" };
  if (verb === "kill" && w.length === 1) return { kind: "kill" };
  if (verb === "cancel") {
    const ref = orderRef(w.slice(1), raw.slice(1));
    return ref !== null && w.length === 1 + ref.used ? { kind: "cancel", order: ref.order } : error("usage: cancel ID | cancel id COID");
  }
  if (verb === "modify") {
    const ref = orderRef(w.slice(1), raw.slice(1));
    const at = 1 + (ref?.used ?? 0);
    const [px, qty] = [int(w[at]), int(w[at + 1])];
    return ref !== null && px !== null && qty !== null && w.length === at + 2 ? { kind: "modify", order: ref.order, px, qty } : error("usage: modify ID PRICE QTY | modify id COID PRICE QTY");
  }
  const { words, coid } = takeCoid(w, raw);
  if (coid === null) return error(`"id" takes one client order id of 1-36 visible ASCII characters, at the end of the line; ${HELP}`);
  const order = orderLine(words, instrument);
  if (order.kind !== "order" || coid === undefined) return order;
  return { kind: "order", req: { ...order.req, clientOrderId: coid } };
}

function orderLine(w: string[], instrument: number): ClientLine {
  const verb = w[0];
  const typed = verb === "stop" || verb === "oco";
  const rest = typed ? w.slice(1) : w;
  const side = rest[0] === "buy" || rest[0] === "sell" ? rest[0] : null;
  const qty = int(rest[1]);
  if (side === null || qty === null) return error(HELP);
  if (!typed && rest[2] === "market" && rest.length === 3) return { kind: "order", req: { instrument, side, type: "market", quantity: qty } };
  const price = rest[2] === "@" ? int(rest[3]) : null;
  if (price === null) return error(HELP);
  const flags = rest.slice(4);
  if (verb === "stop") {
    const limit = flags[0] === "limit" ? int(flags[1]) : undefined;
    if (limit === null || (flags.length > 0 && limit === undefined) || flags.length > 2) return error("usage: stop buy|sell QTY @ STOP [limit PRICE] [id COID]");
    return { kind: "order", req: { instrument, side, type: "stop", quantity: qty, stopPrice: price, ...(limit === undefined ? {} : { price: limit }) } };
  }
  if (verb === "oco") {
    const stopPrice = flags[0] === "stop" ? int(flags[1]) : null;
    const limit = flags[2] === "limit" ? int(flags[3]) : undefined;
    const post = flags.at(-1) === "post";
    const used = 2 + (limit === undefined ? 0 : 2) + (post ? 1 : 0);
    if (stopPrice === null || limit === null || flags.length !== used) return error("usage: oco buy|sell QTY @ PRICE stop STOP [limit PRICE] [post] [id COID]");
    return { kind: "order", req: { instrument, side, type: "oco", quantity: qty, price, stopPrice, ...(limit === undefined ? {} : { stopLimitPrice: limit }), ...(post ? { postOnly: true } : {}) } };
  }
  const unknown = flags.filter((f) => !["ioc", "fok", "post"].includes(f));
  if (unknown.length > 0) return error(`unknown flag "${unknown[0]}"; ${HELP}`);
  const timeInForce = flags.includes("fok") ? "FOK" : flags.includes("ioc") ? "IOC" : "GTC";
  return { kind: "order", req: { instrument, side, type: "limit", price, quantity: qty, timeInForce, postOnly: flags.includes("post") } };
}
