/**
 * Keeps a node's turns from starving the event loop. Turns are scheduled as
 * microtasks (fast: no timer clamping), and when storage and the state
 * machine answer synchronously (bun:sqlite, an in-memory map), a client
 * looping on `await raft.clientWrite(…)` never lets the event loop reach
 * its macrotasks: work that waits for real I/O — a snapshot being written
 * to files — never progresses. Once such work has been pending for
 * {@linkcode YIELD_AFTER_MS} (work that completes sooner, like a snapshot
 * built in memory, costs nothing), the guard watches whether a macrotask
 * runs (a probe timer of 1 ms); when none has for as long, the node's next
 * turn goes through a timer instead of a microtask, which lets the event
 * loop run what waits.
 *
 * Time comes from the node's clock, so under a simulated clock it is as
 * deterministic as the rest of the node.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";

/**
 * How long, in milliseconds of the node's clock, turns may run back to back
 * as microtasks while work waits on the event loop: past it, the next turn
 * is a macrotask.
 *
 * @example
 * ```ts
 * import { YIELD_AFTER_MS } from "./yield_guard.ts";
 * console.assert(YIELD_AFTER_MS > 0);
 * ```
 */
export const YIELD_AFTER_MS = 5;

/**
 * Tells a node's scheduler when its next turn should be a macrotask.
 *
 * @example
 * ```ts
 * import { YieldGuard } from "./yield_guard.ts";
 * import { ManualClock } from "../clock.ts";
 *
 * const clock = new ManualClock();
 * const guard = new YieldGuard(clock, 5);
 * console.assert(!guard.shouldYield(true)); // work starts waiting
 * clock.advance(5);
 * console.assert(!guard.shouldYield(true)); // waited 5 ms: watch for macrotasks
 * clock.advance(10); // the probe fires: the event loop ran a macrotask
 * console.assert(!guard.shouldYield(true));
 * console.assert(!guard.shouldYield(false)); // nothing waits: never
 * guard.stop();
 * ```
 */
export class YieldGuard {
  readonly #clock: Clock;
  readonly #afterMs: number;
  /** A timer that fires only if the event loop gets to its macrotasks. */
  #probe: TimerHandle | null = null;
  /** When a macrotask was last seen to run (the probe, or a turn from a timer). */
  #lastMacrotask = 0;
  /** Since when work has been seen waiting, or `null`. */
  #waitingSince: number | null = null;
  #stopped = false;
  readonly #fired = (): void => {
    this.#probe = null;
    this.#lastMacrotask = this.#clock.now();
  };

  /**
   * @param clock the node's clock (time and timers)
   * @param afterMs how long turns may run as microtasks while work waits
   */
  constructor(clock: Clock, afterMs: number = YIELD_AFTER_MS) {
    this.#clock = clock;
    this.#afterMs = afterMs;
  }

  /**
   * Whether the next turn should be a macrotask: `waiting` says work waits
   * on the event loop; it has for `afterMs`, and no macrotask has run for
   * as long.
   */
  shouldYield(waiting: boolean): boolean {
    if (!waiting || this.#stopped) {
      this.#waitingSince = null;
      return false;
    }
    const now = this.#clock.now();
    if (this.#waitingSince === null) {
      this.#waitingSince = now;
      return false;
    }
    if (now - this.#waitingSince < this.#afterMs) return false;
    if (this.#probe === null) {
      // Start (or restart) watching: a macrotask ran since the last probe was armed.
      this.#lastMacrotask = now;
      this.#probe = this.#clock.setTimer(1, this.#fired);
      return false;
    }
    return now - this.#lastMacrotask >= this.#afterMs;
  }

  /** A turn ran as a macrotask. */
  macrotask(): void {
    this.#lastMacrotask = this.#clock.now();
  }

  /** Stops watching (the node stops). */
  stop(): void {
    this.#stopped = true;
    if (this.#probe !== null) this.#clock.clearTimer(this.#probe);
    this.#probe = null;
  }
}
