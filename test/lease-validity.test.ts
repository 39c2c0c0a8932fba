/**
 * A leader's lease is certainly alive for one TTL from when a keepalive that etcd answered was
 * sent. After a pause longer than the lease, the keepalive timer sends a new request as the
 * process wakes, and an answer that arrived during the pause (to a request sent before it) is
 * read just after: it must count from its own request, not from the one just sent, or the
 * woken leader believes it still leads and acks (the nemesis scenario "leader paused just past
 * its lease" saw 12 acks after waking).
 */
import { describe, expect, it } from "vitest";
import { KEEPALIVES_UNANSWERED_MAX, LEASE_CLOCK_DRIFT_PPM_MAX, LeaseValidity } from "../src/sequencer/coordinator.js";

const TTL_MS = 1000;
/** What one answer proves: the TTL less the clock-drift margin (1 ms of a 1 s TTL at 1,000 ppm). */
const P = TTL_MS - (TTL_MS * LEASE_CLOCK_DRIFT_PPM_MAX) / 1_000_000;

describe("lease validity from keepalives", () => {
  it("counts an answer from its own request's send time, for the TTL less the drift margin", () => {
    const v = new LeaseValidity(TTL_MS);
    expect(P).toBe(999);
    expect(v.provenMs).toBe(P);
    v.sent(0);
    v.answered();
    expect(v.untilMs).toBe(P);
    // A clock running 1,000 ppm slow against etcd's: our TTL would be etcd's 1,001 ms.
    expect(v.untilMs).toBeLessThan(TTL_MS / (1 + LEASE_CLOCK_DRIFT_PPM_MAX / 1_000_000) + 1e-9);
  });

  it("after a pause, an answer read on waking proves only what its request (sent before the pause) proves", () => {
    const v = new LeaseValidity(TTL_MS);
    v.sent(0);
    v.answered();
    v.sent(300); // answered by etcd while we were paused, from 400 to 1,650
    v.sent(1650); // the timer, as the process wakes
    v.answered(); // the answer to the request of 300, read after waking
    expect(v.untilMs).toBe(300 + P);
    expect(1651 < v.untilMs).toBe(false); // not leading on waking
    v.answered(); // the answer to the request of 1,650: etcd still had the lease then
    expect(v.untilMs).toBe(1650 + P);
  });

  it("an answer with no request remembered proves nothing; a new stream forgets the old one's requests; a lost lease proves nothing", () => {
    const v = new LeaseValidity(TTL_MS);
    v.answered();
    expect(v.untilMs).toBe(0);
    v.sent(10);
    v.reset();
    v.answered();
    expect(v.untilMs).toBe(0);
    v.sent(20);
    v.answered();
    expect(v.untilMs).toBe(20 + P);
    v.reset(); // what was proved stays proved
    expect(v.untilMs).toBe(20 + P);
    v.lost();
    expect(v.untilMs).toBe(0);
  });

  it("remembers at most KEEPALIVES_UNANSWERED_MAX requests, and an answer past them is paired with an older one (never a later one)", () => {
    const v = new LeaseValidity(TTL_MS);
    for (let i = 0; i < KEEPALIVES_UNANSWERED_MAX + 10; i++) v.sent(i * 100);
    for (let i = 0; i < KEEPALIVES_UNANSWERED_MAX; i++) v.answered();
    expect(v.untilMs).toBe((KEEPALIVES_UNANSWERED_MAX - 1) * 100 + P);
    v.answered();
    expect(v.untilMs).toBe((KEEPALIVES_UNANSWERED_MAX - 1) * 100 + P);
  });

  it("a stall of half a TTL or more forgets what was proved and the requests sent before it", () => {
    const v = new LeaseValidity(TTL_MS);
    v.sent(0);
    v.answered();
    v.stalled(499);
    expect(v.untilMs).toBe(P);
    v.sent(900); // just before a pause
    v.stalled(1250); // the pause
    v.answered(); // the answer to 900, read on waking: it proves nothing now
    expect(v.untilMs).toBe(0);
    v.sent(2200);
    v.answered();
    expect(v.untilMs).toBe(2200 + P);
  });
});
