/**
 * One node's view of a simulation's virtual time: {@linkcode NodeClock}
 * wraps the shared {@linkcode ManualClock} with a constant offset, a
 * constant drift (the node's clock runs a little fast or slow) and a pause
 * switch (a stopped process: nothing of the node runs until it resumes).
 *
 * @module
 */

import type { Clock, ManualClock, TimerHandle } from "../src/clock.ts";

/**
 * How a node's clock differs from the shared virtual time.
 *
 * @example
 * ```ts
 * import type { NodeClockOptions } from "./sim_clock.ts";
 * const skew: NodeClockOptions = { offset: 12_345, drift: 0.002 }; // 0.2 % fast
 * ```
 */
export interface NodeClockOptions {
  /** Added to the shared time, ms (default 0). Only differences matter to Raft. */
  readonly offset?: number;
  /**
   * Rate error: the node's clock advances `1 + drift` ms per ms of shared
   * time (default 0). Must be greater than -1.
   */
  readonly drift?: number;
}

class _NodeTimer implements TimerHandle {
  active = true;
  inner: TimerHandle | null = null;
  constructor(readonly due: number, readonly fn: () => void) {}
}

/**
 * A node's clock in a simulation. Timers run on the shared
 * {@linkcode ManualClock} (so one scheduler orders everything), converted
 * through the drift. While paused, every callback of the node (its timers
 * and whatever the simulator routes through {@linkcode NodeClock.whenRunning})
 * waits; {@linkcode NodeClock.resume} runs them, in order, as timers due at
 * once. Time keeps passing during a pause: the node sees a jump.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../src/clock.ts";
 * import { NodeClock } from "./sim_clock.ts";
 * const base = new ManualClock();
 * const clock = new NodeClock(base, { offset: 1000, drift: 0.5 });
 * let fired = -1;
 * clock.setTimer(30, () => fired = clock.now());
 * base.advance(20); // 20 ms of shared time are 30 ms for this node
 * console.assert(fired === 1030 && clock.now() === 1030);
 * ```
 */
export class NodeClock implements Clock {
  readonly #base: ManualClock;
  readonly #offset: number;
  readonly #rate: number;
  /** The latest due time of a fired timer: `now()` never reads below it (float rounding). */
  #floor = -Infinity;
  #paused = false;
  #held: (() => void)[] = [];

  /**
   * Creates a {@linkcode NodeClock}.
   *
   * @param base the shared virtual clock
   * @param options offset and drift
   */
  constructor(base: ManualClock, options?: NodeClockOptions);
  constructor(base: ManualClock, options: NodeClockOptions = {}) {
    const drift = options.drift ?? 0;
    if (!(drift > -1) || !Number.isFinite(drift)) {
      throw new RangeError(`drift must be a finite number > -1, got ${drift}`);
    }
    this.#base = base;
    this.#offset = options.offset ?? 0;
    this.#rate = 1 + drift;
  }

  /** This node's time, ms: `offset + shared × (1 + drift)`, monotonic. */
  now(): number {
    const t = this.#offset + this.#base.now() * this.#rate;
    return t > this.#floor ? t : this.#floor;
  }

  /** Calls `fn` after `delayMs` of this node's time (later, if paused then). */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const delay = delayMs > 0 ? delayMs : 0;
    const timer = new _NodeTimer(this.now() + delay, fn);
    timer.inner = this.#base.setTimer(delay / this.#rate, () => this.#fire(timer));
    return timer;
  }

  /** Cancels a timer of this clock. */
  clearTimer(handle: TimerHandle): void {
    if (!(handle instanceof _NodeTimer) || !handle.active) return;
    handle.active = false;
    if (handle.inner !== null) this.#base.clearTimer(handle.inner);
    handle.inner = null;
  }

  /** Whether the node is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Stops the node: its callbacks wait until {@linkcode NodeClock.resume}. */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes the node: what waited runs in order, as timers due now. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    for (const fn of held) this.#base.setTimer(0, () => this.whenRunning(fn));
  }

  /** Runs `fn` now, or once resumed if paused. */
  whenRunning(fn: () => void): void {
    if (this.#paused) this.#held.push(fn);
    else fn();
  }

  #fire(timer: _NodeTimer): void {
    timer.inner = null;
    if (!timer.active) return;
    if (this.#paused) {
      this.#held.push(() => this.#fire(timer));
      return;
    }
    timer.active = false;
    if (timer.due > this.#floor) this.#floor = timer.due;
    timer.fn();
  }
}
