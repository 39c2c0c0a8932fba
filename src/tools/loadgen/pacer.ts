/**
 * Open-loop pacing: send i is due at t0 + i / rate, whatever happened to the sends before it.
 * A worker thread sleeps until each due time (pacer-worker.ts) and wakes the main thread, which
 * sends everything due. Latencies are then measured from the due time (response time, which
 * corrects coordinated omission: a stall delays every send behind it and is charged to each)
 * and from the actual send (service time); the gap between them is the generator's own lateness
 * plus any backlog.
 *
 * Why a thread: a timer-paced sender on the main thread adds up to a timer tick (~1 ms) of its
 * own lateness to every figure; a spinning one takes a whole core from the system under test
 * on a 2-core machine. Atomics.wait sleeps in the kernel until the due time (tens of µs late).
 */
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { DUE, STOP, T0_BYTE_OFFSET, WAKE_PENDING } from "./pacer-worker.js";

export const nowNs = (): number => Number(process.hrtime.bigint());

export class Pacer {
  /** DUE, WAKE_PENDING, STOP (Int32), then at T0_BYTE_OFFSET the worker's t0 (Float64, ns). */
  private readonly shared = new SharedArrayBuffer(T0_BYTE_OFFSET + 8);
  private readonly s = new Int32Array(this.shared, 0, 3);
  private readonly t0 = new Float64Array(this.shared, T0_BYTE_OFFSET, 1);
  private worker: Worker | null = null;
  private sent = 0;
  readonly intervalNs: number;
  t0Ns = 0;

  constructor(readonly ratePerS: number, readonly total: number) {
    this.intervalNs = 1e9 / ratePerS;
  }

  /** Intended send time of send i, ns on the process.hrtime clock (known once the first send is due). */
  dueNs(i: number): number {
    return this.t0Ns + i * this.intervalNs;
  }

  /**
   * Calls `send(i)` for each send as it falls due; resolves when all are done (or stop()). The
   * schedule starts `startDelayMs` after the worker runs, not after it was asked for: a thread
   * takes tens of ms to start (more on a busy machine), and sends due before the generator could
   * send are its own delay, not the system's, so they are not charged to it.
   */
  run(send: (i: number) => void, startDelayMs = 20): Promise<number> {
    return new Promise((resolve, reject) => {
      const w = new Worker(join(import.meta.dirname, "pacer-worker.js"), { workerData: { shared: this.shared, startDelayNs: startDelayMs * 1e6, intervalNs: this.intervalNs, total: this.total } });
      this.worker = w;
      w.on("message", (m: number) => {
        // The worker wrote its t0 before its first message.
        this.t0Ns = this.t0[0]!;
        Atomics.store(this.s, WAKE_PENDING, 0);
        const due = Atomics.load(this.s, DUE);
        while (this.sent < due) send(this.sent++);
        if (m === 1) {
          this.worker = null;
          void w.terminate();
          resolve(this.sent);
        }
      });
      w.once("error", reject);
    });
  }

  stop(): void {
    Atomics.store(this.s, STOP, 1);
  }
}
