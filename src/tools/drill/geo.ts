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
import { FeedClient } from "../../client/feed.js";
import { TradingClient } from "../../client/trading.js";
import { drain, spawnNode, statsOf, stopNode, type NodeProcess, type ReplicaStats, type SequencerStats } from "../../cluster/launcher.js";
import { LatencyProxy } from "../netsim/proxy.js";
import { FillProbe, PROBE_ASK as ASK } from "./fill-probe.js";
import type { Config } from "../../config/config.js";

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
/** The sequencer's view of each replica's lag, sampled this often. */
const LAG_SAMPLE_MS = 100;

interface Region { name: string; oneWayMsOut: number; oneWayMsBack: number; jitterMs: number }
/** A replica without a region: no delay. */
const LOCAL: Region = { name: "local", oneWayMsOut: 0, oneWayMsBack: 0, jitterMs: 0 };

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** What a drill run holds, stopped and closed at the end whatever happened. */
interface GeoRun { readonly dir: string; readonly logDir: string; readonly nodes: NodeProcess[]; readonly proxies: LatencyProxy[]; readonly clients: FillProbe[] }

/** Each configured replica with its region (LOCAL without one). */
function regionsOf(cfg: Config): { rc: Config["replicas"][number]; region: Region }[] {
  const regions = new Map((cfg.regions ?? []).map((r) => [r.name, r as Region]));
  return cfg.replicas.map((rc) => ({ rc, region: regions.get(rc.region ?? "") ?? LOCAL }));
}

/** A proxy to the sequencer with the region's delays (down: sequencer → region, up: back); resolves with its port. */
function through(run: GeoRun, seqPort: number, region: Region, seed: number): Promise<number> {
  const link = { jitterMs: region.jitterMs };
  const p = new LatencyProxy({ targetHost: "127.0.0.1", targetPort: seqPort, up: { delayMs: region.oneWayMsBack, ...link }, down: { delayMs: region.oneWayMsOut, ...link }, bufferBytesMax: PROXY_BUFFER_BYTES_MAX, seed });
  run.proxies.push(p);
  return p.listen();
}

/** The sequencer, then each replica following it through its region's proxy, with its clock's offset. */
async function startCluster(o: GeoDrillOptions, run: GeoRun): Promise<{ seq: NodeProcess; replicas: NodeProcess[] }> {
  const runConfig = join(run.dir, "config.json");
  writeFileSync(runConfig, JSON.stringify({ ...JSON.parse(readFileSync(o.configPath, "utf8")), demo: o.config.demo }));
  const seq = await spawnNode("sequencer", ["sequencer", "--config", runConfig, "--data", run.dir, "--port", "0"], run.logDir);
  run.nodes.push(seq);
  const replicas: NodeProcess[] = [];
  for (const [i, { rc, region }] of regionsOf(o.config).entries()) {
    const port = await through(run, Number(seq.ready.port), region, 10 + i);
    replicas.push(await spawnNode(rc.id, ["replica", "--config", runConfig, "--id", rc.id, "--data", run.dir, "--port", "0", "--sequencer", `ws://127.0.0.1:${port}/replicate`, "--drill-truth"], run.logDir));
    run.nodes.push(replicas[i]!);
  }
  return { seq, replicas };
}

/** The maker's large ask, then per region a trading client through its own proxy, reading fills from its local replica. */
async function connectClients(o: GeoDrillOptions, run: GeoRun, seq: NodeProcess, replicas: readonly NodeProcess[]): Promise<void> {
  const maker = await TradingClient.connect(String(seq.ready.trade), MAKER_ACCOUNT);
  await maker.submit({ instrument: o.config.demo.instrument, side: "sell", price: ASK, quantity: 1_000_000 });
  for (const [i, { region }] of regionsOf(o.config).entries()) {
    const port = await through(run, Number(seq.ready.port), region, 100 + i);
    const trading = await TradingClient.connect(`ws://127.0.0.1:${port}/trade`, 100 + i);
    let client: FillProbe | null = null;
    const feed = new FeedClient({ urls: [String(replicas[i]!.ready.feed)], account: 100 + i, onReport: (rep) => client?.onReport(rep.oid, rep.k, rep.liq) });
    await feed.connect();
    client = new FillProbe(trading, feed);
    run.clients.push(client);
  }
}

/**
 * Sends from every regional client at `ratePerS` for `durationS`, then waits for every answer;
 * returns each replica's lag samples as the sequencer saw them (its seq minus what the replica
 * last reported applied: one cheap request per sample, so the polling does not disturb the paths
 * it measures).
 */
async function drive(o: GeoDrillOptions, seq: NodeProcess, clients: readonly FillProbe[]): Promise<number[][]> {
  const ids = o.config.replicas.map((rc) => rc.id);
  const lagSamples = ids.map(() => [] as number[]);
  const sampler = setInterval(() => {
    void statsOf<SequencerStats>(seq).then((s) => {
      ids.forEach((id, i) => {
        const r = s.replicas.find((x) => x.id === id);
        if (r !== undefined) lagSamples[i]!.push(r.lag);
      });
    }).catch(() => undefined);
  }, LAG_SAMPLE_MS);
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  try {
    for (let n = 0; performance.now() - started < o.durationS * 1000; n++) {
      for (const c of clients) inFlight.push(c.send(o.config.demo.instrument));
      const due = started + ((n + 1) * 1000) / o.ratePerS;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    await Promise.all(inFlight);
  } finally {
    clearInterval(sampler);
  }
  return lagSamples;
}

/** One replica's row: configured delays, the offset estimate against the injected one, lag, order→fill. */
function replicaRow(s: ReplicaStats, region: Region, lag: number[], client: FillProbe): GeoDrillReplica {
  const injected = s.clock_injected_error_us ?? 0;
  const estimated = s.skew?.offset_us ?? 0;
  const error = Math.abs(estimated - injected);
  const asymmetryUs = Math.round(Math.abs(region.oneWayMsBack - region.oneWayMsOut) * 1000);
  const trueOneWay = s.latency.one_way_true_us!;
  const f = client.orderToFillUs.summary();
  const ms = (us: number): number => Math.round(us / 100) / 10;
  return {
    id: s.id, region: region.name, out_ms: region.oneWayMsOut, back_ms: region.oneWayMsBack, asymmetry_us: asymmetryUs,
    injected_offset_us: injected, estimated_offset_us: estimated, error_us: error, bound_us: s.skew?.bound_us ?? 0,
    limit_us: asymmetryUs / 2 + 100, within_bound: error <= (s.skew?.bound_us ?? 0), within_limit: error <= asymmetryUs / 2 + 100,
    lag_seq_p50: pct(lag, 50), lag_seq_p99: pct(lag, 99), lag_p50_ms: ms(trueOneWay.p50), lag_p99_ms: ms(trueOneWay.p99),
    order_to_fill_p50_ms: ms(f.p50), order_to_fill_p99_ms: ms(f.p99), fills: client.fills,
  };
}

export async function runGeoDrill(o: GeoDrillOptions): Promise<{ replicas: GeoDrillReplica[] }> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-drill-geo-"));
  const run: GeoRun = { dir, logDir: join(dir, "logs"), nodes: [], proxies: [], clients: [] };
  mkdirSync(run.logDir);
  try {
    const { seq, replicas } = await startCluster(o, run);
    await connectClients(o, run, seq, replicas);
    o.log(`drill geo: ${replicas.length} replicas behind latency proxies, ${o.durationS} s, ${o.ratePerS} orders/s per region`);
    const lag = await drive(o, seq, run.clients);
    const rs = await drain(replicas, (await statsOf<SequencerStats>(seq)).seq);
    await Promise.all(run.clients.map((c) => c.feed.caughtUp(c.trading.lastSeq)));
    const regions = regionsOf(o.config);
    return { replicas: rs.map((s, i) => replicaRow(s, regions[i]!.region, lag[i]!, run.clients[i]!)) };
  } finally {
    for (const c of run.clients) {
      c.feed.close();
      await c.trading.close();
    }
    await Promise.all(run.nodes.map(stopNode));
    await Promise.all(run.proxies.map((p) => p.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}
