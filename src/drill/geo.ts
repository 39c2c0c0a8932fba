/**
 * The geo drill: the cluster from a regions configuration (config/geo-3region.json) on one
 * machine. Each replica follows the sequencer through a latency proxy with its region's delays
 * (sequencer → region "out", region → sequencer "back", jitter), and its clock gets the region's
 * offset and drift. A trading client in each region sends through the same kind of path and
 * reads its fills from its local replica. The drill reports per replica the configured delays,
 * replication lag, the estimated clock offset against the injected one with its bound, and the
 * physical limit of two-way probing: half the path asymmetry.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FeedClient } from "../client/feed.js";
import { TradingClient } from "../client/trading.js";
import { drain, spawnNode, statsOf, stopNode, type NodeProcess, type SequencerStats } from "../cluster/launcher.js";
import { LatencyProxy } from "../netsim/proxy.js";
import { FillProbe, PROBE_ASK as ASK } from "./fill-probe.js";
import type { Config } from "../cli/config.js";

export interface GeoDrillOptions {
  readonly configPath: string;
  readonly config: Config;
  readonly durationS: number;
  /** Orders per second from each regional client. */
  readonly ratePerS: number;
  readonly log: (line: string) => void;
}

export interface GeoDrillReplica {
  id: string;
  region: string;
  out_ms: number;
  back_ms: number;
  asymmetry_us: number;
  injected_offset_us: number;
  estimated_offset_us: number;
  error_us: number;
  bound_us: number;
  /** Half the asymmetry plus 100 µs: what two-way probing cannot do better than here. */
  limit_us: number;
  within_bound: boolean;
  within_limit: boolean;
  lag_seq_p50: number;
  lag_seq_p99: number;
  lag_p50_ms: number;
  lag_p99_ms: number;
  order_to_fill_p50_ms: number;
  order_to_fill_p99_ms: number;
  fills: number;
}

const MAKER_ACCOUNT = 1_000;
const PROXY_BUFFER_BYTES_MAX = 16 << 20;

interface Region { name: string; oneWayMsOut: number; oneWayMsBack: number; jitterMs: number }

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function runGeoDrill(o: GeoDrillOptions): Promise<{ replicas: GeoDrillReplica[] }> {
  const cfg = o.config;
  const regions = new Map((cfg.regions ?? []).map((r) => [r.name, r as Region]));
  const dir = mkdtempSync(join(tmpdir(), "lockstep-drill-geo-"));
  const logDir = join(dir, "logs");
  mkdirSync(logDir);
  const nodes: NodeProcess[] = [];
  const proxies: LatencyProxy[] = [];
  const clients: FillProbe[] = [];
  try {
    const runConfig = join(dir, "config.json");
    writeFileSync(runConfig, JSON.stringify({ ...JSON.parse(readFileSync(o.configPath, "utf8")), demo: cfg.demo }));
    const seq = await spawnNode("sequencer", ["sequencer", "--config", runConfig, "--data", dir, "--port", "0"], logDir);
    nodes.push(seq);
    const seqPort = Number(seq.ready.port);
    const through = async (region: Region, seed: number): Promise<number> => {
      const link = { jitterMs: region.jitterMs };
      const p = new LatencyProxy({ targetHost: "127.0.0.1", targetPort: seqPort, up: { delayMs: region.oneWayMsBack, ...link }, down: { delayMs: region.oneWayMsOut, ...link }, bufferBytesMax: PROXY_BUFFER_BYTES_MAX, seed });
      proxies.push(p);
      return p.listen();
    };
    const replicas: NodeProcess[] = [];
    for (const [i, r] of cfg.replicas.entries()) {
      const region = regions.get(r.region ?? "") ?? { name: "local", oneWayMsOut: 0, oneWayMsBack: 0, jitterMs: 0 };
      const port = await through(region, 10 + i);
      replicas.push(await spawnNode(r.id, ["replica", "--config", runConfig, "--id", r.id, "--data", dir, "--port", "0", "--sequencer", `ws://127.0.0.1:${port}/replicate`, "--drill-truth"], logDir));
    }
    nodes.push(...replicas);
    const inst = cfg.demo.instrument;
    const maker = await TradingClient.connect(String(seq.ready.trade), MAKER_ACCOUNT);
    await maker.submit({ instrument: inst, side: "sell", price: ASK, quantity: 1_000_000 });
    for (const [i, r] of cfg.replicas.entries()) {
      const region = regions.get(r.region ?? "") ?? { name: "local", oneWayMsOut: 0, oneWayMsBack: 0, jitterMs: 0 };
      const port = await through(region, 100 + i);
      const trading = await TradingClient.connect(`ws://127.0.0.1:${port}/trade`, 100 + i);
      let client: FillProbe | null = null;
      const feed = new FeedClient({ urls: [String(replicas[i]!.ready.feed)], account: 100 + i, onReport: (rep) => client?.onReport(rep.oid, rep.k, rep.liq) });
      await feed.connect();
      client = new FillProbe(trading, feed);
      clients.push(client);
    }
    o.log(`drill geo: ${replicas.length} replicas behind latency proxies, ${o.durationS} s, ${o.ratePerS} orders/s per region`);
    const lagSamples = replicas.map(() => [] as number[]);
    const started = performance.now();
    // Lag as the sequencer sees it (its seq minus what each replica last reported applied): one cheap
    // request per sample, so the drill's own polling does not disturb the paths it measures.
    const sampler = setInterval(() => {
      void statsOf<SequencerStats>(seq).then((s) => {
        cfg.replicas.forEach((rc, i) => {
          const r = s.replicas.find((x) => x.id === rc.id);
          if (r !== undefined) lagSamples[i]!.push(r.lag);
        });
      }).catch(() => undefined);
    }, 100);
    const inFlight: Promise<void>[] = [];
    for (let n = 0; performance.now() - started < o.durationS * 1000; n++) {
      for (const c of clients) inFlight.push(c.send(inst));
      const due = started + ((n + 1) * 1000) / o.ratePerS;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    await Promise.all(inFlight);
    clearInterval(sampler);
    const last = (await statsOf<SequencerStats>(seq)).seq;
    const rs = await drain(replicas, last);
    await Promise.all(clients.map((c) => c.feed.caughtUp(c.trading.lastSeq)));
    return {
      replicas: rs.map((s, i) => {
        const rc = cfg.replicas[i]!;
        const region = regions.get(rc.region ?? "") ?? { name: "local", oneWayMsOut: 0, oneWayMsBack: 0, jitterMs: 0 };
        const injected = s.clock_injected_error_us ?? 0;
        const estimated = s.skew?.offset_us ?? 0;
        const asymmetryUs = Math.round(Math.abs(region.oneWayMsBack - region.oneWayMsOut) * 1000);
        const trueOneWay = s.latency.one_way_true_us!;
        const f = clients[i]!.orderToFillUs.summary();
        return {
          id: s.id, region: region.name, out_ms: region.oneWayMsOut, back_ms: region.oneWayMsBack, asymmetry_us: asymmetryUs,
          injected_offset_us: injected, estimated_offset_us: estimated, error_us: Math.abs(estimated - injected), bound_us: s.skew?.bound_us ?? 0,
          limit_us: asymmetryUs / 2 + 100,
          within_bound: Math.abs(estimated - injected) <= (s.skew?.bound_us ?? 0),
          within_limit: Math.abs(estimated - injected) <= asymmetryUs / 2 + 100,
          lag_seq_p50: pct(lagSamples[i]!, 50), lag_seq_p99: pct(lagSamples[i]!, 99),
          lag_p50_ms: Math.round(trueOneWay.p50 / 100) / 10, lag_p99_ms: Math.round(trueOneWay.p99 / 100) / 10,
          order_to_fill_p50_ms: Math.round(f.p50 / 100) / 10, order_to_fill_p99_ms: Math.round(f.p99 / 100) / 10, fills: clients[i]!.fills,
        };
      }),
    };
  } finally {
    for (const c of clients) {
      c.feed.close();
      await c.trading.close();
    }
    await Promise.all(nodes.map(stopNode));
    await Promise.all(proxies.map((p) => p.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}
