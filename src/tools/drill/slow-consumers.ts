/**
 * `lockstep bench slow-consumers`: does a misbehaving crowd hurt everyone else? Two phases of
 * the same length on one cluster (a sequencer, two replicas, processes): quiet, then with
 * `stalled` market-data subscribers that never read attached to replica r1 and one account
 * flooding orders at `floodFactor` × the base rate. Throughout, a probe client measures
 * order→fill through the sequencer with fills read from replica r2. Every account is limited to
 * the base flow's rate, as an operator would configure it. Reports both phases' percentiles,
 * their ratio, how much of the flood was refused, and how many stalled subscribers r1 cut off.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FeedClient } from "../../client/feed.js";
import { TradingClient } from "../../client/trading.js";
import { statsOf } from "../../cluster/launcher.js";
import { stalledSubscriber } from "../netsim/stalled.js";
import { encode } from "../../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION } from "../../protocol/messages.js";
import { DrillCluster } from "./cluster.js";
import { FillProbe, PROBE_ASK } from "./fill-probe.js";
import { DrillLoad } from "./load.js";
import type { Config } from "../../config/config.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface SlowConsumerOptions {
  readonly baseConfig: string;
  readonly config: Config;
  /** Probe orders per second; the base traffic runs at 10× this, the flood at floodFactor × the base. */
  readonly ratePerS: number;
  readonly durationS: number;
  readonly stalled: number;
  readonly floodFactor: number;
  readonly log: (line: string) => void;
}


async function measure(probe: FillProbe, inst: number, ratePerS: number, durationS: number): Promise<{ p50_ms: number; p99_ms: number; p999_ms: number; max_ms: number; fills: number }> {
  probe.orderToFillUs.rotate();
  probe.orderToFillUs.rotate(); // start a clean interval
  const started = performance.now();
  const sends: Promise<void>[] = [];
  for (let n = 0; performance.now() - started < durationS * 1000; n++) {
    sends.push(probe.send(inst));
    await sleep(Math.max(0, started + ((n + 1) * 1000) / ratePerS - performance.now()));
  }
  await Promise.all(sends);
  await probe.feed.caughtUp(probe.trading.lastSeq);
  probe.orderToFillUs.rotate();
  const s = probe.orderToFillUs.summary("interval");
  const ms = (us: number): number => Math.round(us / 10) / 100;
  return { p50_ms: ms(s.p50), p99_ms: ms(s.p99), p999_ms: ms(s.p999), max_ms: ms(s.max), fills: s.count };
}

export async function runSlowConsumerBench(o: SlowConsumerOptions): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-slow-"));
  // As an operator would run it: no account may send more than the whole base flow, so a flood
  // is mostly refused at the gateway (RATE_LIMITED) before it costs anyone else anything.
  const accountRatePerS = o.ratePerS * 10;
  const limits = { connectionRatePerS: accountRatePerS, connectionBurst: accountRatePerS, accountRatePerS, accountBurst: accountRatePerS, connectionsMax: 1000 };
  const c = new DrillCluster({ baseConfig: o.baseConfig, dir, replicas: 2, sequencer: { limits }, replicaDefaults: { feedBufferBytesMax: 256 * 1024 } });
  const inst = o.config.demo.instrument;
  const base = new DrillLoad(() => c.tradeUrls, [11, 12], o.ratePerS * 10, inst, o.config.demo.mid);
  const flood = new DrillLoad(() => c.tradeUrls, [99], o.ratePerS * 10 * o.floodFactor, inst, o.config.demo.mid);
  const stalled: Socket[] = [];
  try {
    await c.start();
    const maker = await TradingClient.connect(c.tradeUrl, 1);
    await maker.submit({ instrument: inst, side: "sell", price: PROBE_ASK, quantity: 1_000_000 });
    const trading = await TradingClient.connect(c.tradeUrl, 200);
    let probe: FillProbe | null = null;
    const feed = new FeedClient({ urls: [c.feedUrl(1)], account: 200, onReport: (r) => probe?.onReport(r.oid, r.k, r.liq) });
    await feed.connect();
    probe = new FillProbe(trading, feed);
    base.start();
    await sleep(500);
    const quiet = await measure(probe, inst, o.ratePerS, o.durationS);
    o.log(`  quiet: order→fill p50 ${quiet.p50_ms} ms, p99 ${quiet.p99_ms} ms`);
    const r1 = c.replicas[0]!;
    const r1Port = Number(r1.ready.port);
    const subscribe = encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst });
    for (let i = 0; i < o.stalled; i++) stalled.push(await stalledSubscriber(r1Port, "/feed", subscribe));
    flood.start();
    const stressed = await measure(probe, inst, o.ratePerS, o.durationS);
    o.log(`  ${o.stalled} stalled subscribers + ${o.floodFactor}× flood: order→fill p50 ${stressed.p50_ms} ms, p99 ${stressed.p99_ms} ms`);
    await flood.stop();
    // r1's only feed connections are the stalled ones: those it still holds were not cut off.
    const r1Stats = await statsOf<{ subscribers: number }>(r1);
    await maker.close();
    await trading.close();
    feed.close();
    return {
      probe_rate_per_s: o.ratePerS, base_rate_per_s: o.ratePerS * 10, flood_rate_per_s: o.ratePerS * 10 * o.floodFactor, stalled: o.stalled,
      quiet, stressed, ratio_p99: Math.round((stressed.p99_ms / Math.max(0.01, quiet.p99_ms)) * 100) / 100,
      account_rate_limit_per_s: accountRatePerS, flood_acked: flood.acks.length, flood_rate_limited: flood.rejected,
      stalled_cut_off: o.stalled - r1Stats.subscribers, stalled_still_attached: r1Stats.subscribers,
    };
  } finally {
    for (const s of stalled) s.destroy();
    await base.stop();
    await flood.stop();
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
