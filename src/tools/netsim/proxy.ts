/**
 * A latency-injecting TCP proxy, because these machines have no netem: it simulates the path
 * to another region on loopback. Each direction has its own delay, the path's minimum
 * (propagation) time, and jitter, queueing that only ever adds: each chunk is delivered
 * `delay + uniform(0, jitter)` after it arrived, but never before the chunk ahead of it (TCP
 * does not reorder). A symmetric jitter (± around the delay) would be cut off on the busier
 * direction by that ordering rule and make a symmetric path look asymmetric to clock probes.
 * Optional stalls: every `everyMs`, nothing is delivered for `forMs`. Each direction's queue is bounded: past `bufferBytesMax`
 * the sending side is paused until the queue drains, as a real congested link would push back.
 *
 * Faults set while running, per direction, for every connection open and to come (`fault`):
 *  - hold       bytes are accepted and none is delivered, no FIN, no RST: a partition (a close
 *               on the far side is passed on only after healing, so each end must notice on its
 *               own deadline). Healing delivers what was held, in order, as TCP's
 *               retransmissions would after a real partition heals (the queue is bounded as
 *               above, so a long one pushes back).
 *  - blackhole  bytes are accepted and thrown away: a middlebox that swallows. Healing passes
 *               new bytes again; those swallowed are gone, which no real TCP path does (it would
 *               retransmit them), so the stream resumes with a hole in it: the application
 *               protocol above must notice (a WebSocket usually sees whole frames vanish).
 * Shaping set while running (`shape`): an extra delay on top of the spec (a latency spike) and
 * a bandwidth cap (each chunk takes length / bytesPerS to go out, after the one ahead of it).
 * `reset()` destroys every open connection with a TCP RST on both sides.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { Rng } from "../../util/rng.js";

export interface LinkSpec {
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly stall?: { readonly everyMs: number; readonly forMs: number };
}

export interface ProxyOptions {
  readonly targetHost: string;
  readonly targetPort: number;
  /** client → target */
  readonly up: LinkSpec;
  /** target → client */
  readonly down: LinkSpec;
  readonly bufferBytesMax: number;
  readonly seed: number;
}

/** What a direction of the proxy does now. */
export type LinkFault = "pass" | "hold" | "blackhole";

/** Shaping of one direction, changed while running: 0 means none. */
export interface LinkShape {
  readonly extraDelayMs: number;
  /** Bytes per second the direction delivers at most (0: no cap). */
  readonly bytesPerS: number;
}

const NO_SHAPE: LinkShape = { extraDelayMs: 0, bytesPerS: 0 };

class DelayedPipe {
  private fault_: LinkFault = "pass";
  shape: LinkShape = NO_SHAPE;
  private readonly queue: { at: number; chunk: Buffer }[] = [];
  private queuedBytes = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  /** The source socket has closed: once what is queued is delivered, the destination is closed too. */
  private srcClosed = false;

  constructor(private readonly src: Socket, private readonly dst: Socket, private readonly spec: LinkSpec, private readonly max: number, private readonly rng: Rng, private readonly epochMs: number) {
    src.on("data", (chunk: Buffer) => this.push(chunk));
    src.on("end", () => {
      this.ended = true;
      this.schedule();
    });
  }

  get fault(): LinkFault {
    return this.fault_;
  }

  /** Bytes taken from the source and not yet delivered. */
  get queued(): number {
    return this.queuedBytes;
  }
  set fault(f: LinkFault) {
    const held = this.fault_ === "hold";
    this.fault_ = f;
    if (held && f !== "hold") this.schedule();
  }

  private push(chunk: Buffer): void {
    if (this.fault_ === "blackhole") return;
    const now = performance.now();
    let at = now + this.spec.delayMs + this.shape.extraDelayMs + this.rng.next() * this.spec.jitterMs;
    const s = this.spec.stall;
    if (s !== undefined) {
      const phase = (at - this.epochMs) % s.everyMs;
      if (phase < s.forMs) at += s.forMs - phase;
    }
    const txMs = this.shape.bytesPerS > 0 ? (chunk.length * 1000) / this.shape.bytesPerS : 0;
    at = Math.max(at, this.lastAt, now) + txMs;
    this.lastAt = at;
    this.queue.push({ at, chunk });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > this.max) this.src.pause();
    this.schedule();
  }

  /** The source socket closed (FIN, RST or destroyed): pass that on after the queue, and not while held. */
  sourceClosed(): void {
    this.srcClosed = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null || this.fault_ === "hold") return;
    if (this.queue.length === 0) {
      if (this.srcClosed) this.dst.destroy();
      else if (this.ended) this.dst.end();
      return;
    }
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0]!.at - performance.now()));
  }

  private flush(): void {
    this.timer = null;
    if (this.fault_ === "hold") return;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now + 0.05) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      if (!this.dst.destroyed) this.dst.write(chunk);
    }
    if (this.src.isPaused() && this.queuedBytes <= this.max / 2) this.src.resume();
    this.schedule();
  }

  /** Passes again, and what is queued goes out now, in order (what a held middlebox lets go of at once). */
  letGo(fault: LinkFault): void {
    const now = performance.now();
    for (const q of this.queue) q.at = Math.min(q.at, now);
    this.lastAt = Math.min(this.lastAt, now);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.fault = fault;
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A pass-through proxy's buffer per direction when its caller names none, bytes. */
export const PASS_THROUGH_BUFFER_BYTES_MAX = 1 << 20;

export class LatencyProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly pipes = new Set<DelayedPipe>();
  private readonly ups = new Set<DelayedPipe>();
  private readonly downs = new Set<DelayedPipe>();
  private faults: { up: LinkFault; down: LinkFault } = { up: "pass", down: "pass" };
  private shapes: { up: LinkShape; down: LinkShape } = { up: NO_SHAPE, down: NO_SHAPE };
  private readonly rng: Rng;
  private readonly epochMs = performance.now();

  constructor(private readonly o: ProxyOptions) {
    this.rng = new Rng(o.seed);
  }

  /** A proxy to 127.0.0.1:`targetPort` that adds no delay either way, until shaped or faulted. */
  static passThrough(targetPort: number, seed: number, bufferBytesMax = PASS_THROUGH_BUFFER_BYTES_MAX): LatencyProxy {
    return new LatencyProxy({ targetHost: "127.0.0.1", targetPort, up: { delayMs: 0, jitterMs: 0 }, down: { delayMs: 0, jitterMs: 0 }, bufferBytesMax, seed });
  }

  /** Listens on 127.0.0.1 (port 0 = a free one); resolves with the port. */
  listen(port = 0): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
    });
  }

  /**
   * One connection: a pipe each way. A side that closes is closed on the other side after what
   * is queued towards it, and not while that direction is held: a partition passes no FIN or
   * RST either, so each end finds out on its own deadline.
   */
  private accept(client: Socket): void {
    const upstream = connect(this.o.targetPort, this.o.targetHost);
    const up = new DelayedPipe(client, upstream, this.o.up, this.o.bufferBytesMax, this.rng, this.epochMs);
    const down = new DelayedPipe(upstream, client, this.o.down, this.o.bufferBytesMax, this.rng, this.epochMs);
    let open = 2;
    for (const [s, from] of [[client, up], [upstream, down]] as const) {
      s.setNoDelay(true);
      this.sockets.add(s);
      s.on("close", () => {
        this.sockets.delete(s);
        from.sourceClosed();
        if (--open === 0) for (const p of [up, down]) { p.stop(); this.pipes.delete(p); this.ups.delete(p); this.downs.delete(p); }
      });
      s.on("error", () => s.destroy());
    }
    up.fault = this.faults.up;
    down.fault = this.faults.down;
    up.shape = this.shapes.up;
    down.shape = this.shapes.down;
    for (const [pipe, set] of [[up, this.ups], [down, this.downs]] as const) {
      this.pipes.add(pipe);
      set.add(pipe);
    }
  }

  /** Sets each direction's fault, for every connection now open and every one to come. */
  fault(f: { readonly up?: LinkFault; readonly down?: LinkFault }): void {
    this.faults = { up: f.up ?? this.faults.up, down: f.down ?? this.faults.down };
    for (const p of this.ups) p.fault = this.faults.up;
    for (const p of this.downs) p.fault = this.faults.down;
  }

  /** Sets each direction's shaping (given fields replace, absent ones stay), now and for connections to come. */
  shape(s: { readonly up?: Partial<LinkShape>; readonly down?: Partial<LinkShape> }): void {
    this.shapes = { up: { ...this.shapes.up, ...s.up }, down: { ...this.shapes.down, ...s.down } };
    for (const p of this.ups) p.shape = this.shapes.up;
    for (const p of this.downs) p.shape = this.shapes.down;
  }

  /**
   * Holds what the connections open now send toward the target (and a close of theirs) until the
   * returned function is called, which sends all of it at once; connections made meanwhile pass
   * as the proxy's faults say. A middlebox that delivers, late, what a client sent before it died.
   */
  holdOpen(): () => void {
    const held = [...this.ups];
    for (const p of held) p.fault = "hold";
    return () => {
      for (const p of held.splice(0)) p.letGo(this.faults.up);
    };
  }

  /** Back to passing everything with only the spec's delays: no fault, no shaping. */
  heal(): void {
    this.shape({ up: NO_SHAPE, down: NO_SHAPE });
    this.fault({ up: "pass", down: "pass" });
  }

  /** Destroys every connection open now with a TCP RST to both ends; new ones are accepted as before. */
  reset(): number {
    const n = this.ups.size;
    for (const s of [...this.sockets]) s.resetAndDestroy();
    return n;
  }

  /** Bytes the proxy holds toward the target now (queued, held or delayed), over every connection. */
  get queuedUp(): number {
    let n = 0;
    for (const p of this.ups) n += p.queued;
    return n;
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.ups.size;
  }

  close(): Promise<void> {
    for (const p of this.pipes) p.stop();
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server === null ? resolve() : this.server.close(() => resolve())));
  }
}
