/**
 * REST client SDK: a replica's HTTP reads (docs/protocol.md, "REST"): reference data, a book
 * snapshot to start a local book from, recent trades, and the account's open orders (signed
 * when the replicas require authentication). Every replica answers the same at the same seq,
 * so the client tries the next URL when one cannot be reached; an answer that is a refusal is
 * not retried elsewhere, it is thrown as a RestError with the reason code.
 */
import { proveRequest } from "../protocol/auth.js";
import { WireReason } from "../protocol/messages.js";
import type { InstrumentRef } from "../protocol/reference.js";
import { RestHeader, RestLimits, RestPath, type BookResponse, type InstrumentsResponse, type OrdersResponse, type RestErrorBody, type TradesResponse } from "../protocol/rest.js";
import { LockstepError, type Credentials } from "./trading.js";

export type { BookResponse, OrdersResponse, RestOrder, RestTrade, TradesResponse } from "../protocol/rest.js";

export interface RestOptions {
  /** Replicas' base URLs, e.g. `http://127.0.0.1:7101`; tried in turn when one cannot be reached. */
  readonly urls: readonly string[];
  /** The account whose open orders `openOrders()` reads. */
  readonly account?: number;
  /** Needed for `openOrders()` when the replicas require authentication. */
  readonly credentials?: Credentials;
  /** Per request, ms; default 5,000. */
  readonly timeoutMs?: number;
}

/** A refusal from a replica: the HTTP status and the reason code of its JSON body. */
export class RestError extends LockstepError {
  constructor(readonly status: number, code: number, message: string) {
    super(code, message);
    this.name = "RestError";
  }
}

const TIMEOUT_MS_DEFAULT = 5_000;
const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

export class RestClient {
  private urlIndex = 0;

  constructor(private readonly o: RestOptions) {
    if (o.urls.length === 0) throw new Error("RestClient: no replica URL");
  }

  /** Every instrument's reference data, ids ascending. */
  async instruments(): Promise<InstrumentRef[]> {
    return (await this.get<InstrumentsResponse>(RestPath.instruments, {})).instruments;
  }

  /** The book as of its `seq`, `depth` levels per side (default and maximum in RestLimits). */
  async book(symbol: string, depth?: number): Promise<BookResponse> {
    checkCount("depth", depth, RestLimits.bookDepthLevelsMax);
    return this.get<BookResponse>(`${RestPath.book}${encodeURIComponent(symbol)}${depth === undefined ? "" : `?depth=${depth}`}`, {});
  }

  /** The latest trades, newest last (default and maximum `limit` in RestLimits). */
  async trades(symbol: string, limit?: number): Promise<TradesResponse> {
    checkCount("limit", limit, RestLimits.tradesLimitMax);
    return this.get<TradesResponse>(`${RestPath.trades}${encodeURIComponent(symbol)}${limit === undefined ? "" : `?limit=${limit}`}`, {});
  }

  /** The account's live orders, oid ascending; signed afresh for every attempt when credentials are given. */
  openOrders(): Promise<OrdersResponse> {
    const account = this.o.account;
    if (account === undefined) return Promise.reject(new Error("RestClient: openOrders() needs options.account"));
    return this.get<OrdersResponse>(RestPath.orders, () => {
      const h: Record<string, string> = { [RestHeader.account]: String(account) };
      const c = this.o.credentials;
      if (c === undefined) return h;
      const p = proveRequest(c.keyId, c.secret, account, nowUs(), "GET", RestPath.orders);
      return { ...h, [RestHeader.key]: p.key, [RestHeader.ts]: String(p.ts), [RestHeader.nonce]: p.nonce, [RestHeader.signature]: Buffer.from(p.sig).toString("hex") };
    });
  }

  private async get<T>(target: string, headers: Record<string, string> | (() => Record<string, string>)): Promise<T> {
    let last: unknown;
    for (let tries = 0; tries < this.o.urls.length; tries++) {
      const base = this.o.urls[this.urlIndex]!;
      let res: Response;
      try {
        res = await fetch(`${base}${target}`, { headers: typeof headers === "function" ? headers() : headers, signal: AbortSignal.timeout(this.o.timeoutMs ?? TIMEOUT_MS_DEFAULT) });
      } catch (err) {
        last = err;
        this.urlIndex = (this.urlIndex + 1) % this.o.urls.length;
        continue;
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch (err) {
        throw new RestError(res.status, 0, `${base}${target} answered HTTP ${res.status} without a JSON body (${(err as Error).message})`);
      }
      if (res.ok) return body as T;
      const e = body as Partial<RestErrorBody>;
      throw new RestError(res.status, typeof e.code === "number" ? e.code : 0, typeof e.message === "string" ? e.message : `HTTP ${res.status}`);
    }
    throw new Error(`no replica reachable among ${this.o.urls.join(", ")}`, { cause: last });
  }
}

/** Refused here with the code the replica would give, without a round trip. */
function checkCount(name: string, n: number | undefined, max: number): void {
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 1 || n > max)) throw new LockstepError(WireReason.OUT_OF_RANGE, `${name} must be an integer in [1, ${max}]`);
}
