/**
 * Time for the runtime, injectable: {@linkcode SystemClock} is the real one
 * (`performance.now()` and `setTimeout`), {@linkcode ManualClock} is virtual
 * time for tests and deterministic simulation.
 *
 * @module
 */
import { InvalidArgument } from "./errors.ts";

/**
 * An opaque handle to a scheduled timer, returned by
 * {@linkcode Clock.setTimer} and accepted by {@linkcode Clock.clearTimer} of
 * the same clock.
 *
 * @example
 * ```ts
 * import { ManualClock, type TimerHandle } from "./clock.ts";
 * const clock = new ManualClock();
 * const h: TimerHandle = clock.setTimer(10, () => {});
 * console.assert(h.active);
 * clock.clearTimer(h);
 * console.assert(!h.active);
 * ```
 */
export interface TimerHandle {
  /** `true` until the timer fires or is cleared. */
  readonly active: boolean;
}

/**
 * A monotonic clock with one-shot timers.
 *
 * Delays are milliseconds; a negative delay counts as 0, and a delay that is
 * not finite or exceeds {@linkcode MAX_TIMER_DELAY} throws an `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { type Clock, SystemClock } from "./clock.ts";
 * const clock: Clock = new SystemClock();
 * const start = clock.now();
 * const h = clock.setTimer(1000, () => console.log("elapsed", clock.now() - start));
 * clock.clearTimer(h);
 * ```
 */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin, never goes back). */
  now(): number;
  /** Calls `fn` once, `delayMs` from now, unless cleared first. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer; harmless if it already fired or was cleared. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The longest delay a timer accepts: 2^31 - 1 ms (about 24.8 days), the
 * largest that `setTimeout` honours everywhere.
 *
 * @example
 * ```ts
 * import { MAX_TIMER_DELAY } from "./clock.ts";
 * console.assert(MAX_TIMER_DELAY === 2_147_483_647);
 * ```
 */
export const MAX_TIMER_DELAY: number = 0x7fffffff;

function _checkDelay(delayMs: number): number {
  if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs > MAX_TIMER_DELAY) {
    throw new InvalidArgument(
      "delayMs",
      `timer delay must be a finite number of ms up to ${MAX_TIMER_DELAY}, got ${delayMs}`,
    );
  }
  return delayMs < 0 ? 0 : delayMs;
}

class _SystemTimer implements TimerHandle {
  active = true;
  id: ReturnType<typeof setTimeout> | undefined = undefined;
}

/**
 * The real clock: `performance.now()` and `setTimeout`/`clearTimeout`. Its
 * handles wrap the runtime's timer id (a number on Deno, an object on Bun).
 *
 * @example
 * ```ts
 * import { SystemClock } from "./clock.ts";
 * const clock = new SystemClock();
 * await new Promise<void>((resolve) => clock.setTimer(1, resolve));
 * ```
 */
export class SystemClock implements Clock {
  /**
   * Milliseconds since the time origin, from `performance.now()`.
   *
   * @example
   * ```ts
   * import { SystemClock } from "./clock.ts";
   * const clock = new SystemClock();
   * console.assert(clock.now() <= clock.now());
   * ```
   */
  now(): number {
    return performance.now();
  }

  /**
   * Schedules `fn` with `setTimeout`.
   *
   * @example
   * ```ts
   * import { SystemClock } from "./clock.ts";
   * const h = new SystemClock().setTimer(5, () => console.log("tick"));
   * ```
   */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const delay = _checkDelay(delayMs);
    const timer = new _SystemTimer();
    timer.id = setTimeout(() => {
      if (!timer.active) return;
      timer.active = false;
      timer.id = undefined;
      fn();
    }, delay);
    return timer;
  }

  /**
   * Cancels a timer of this clock; ignores anything else.
   *
   * @example
   * ```ts
   * import { SystemClock } from "./clock.ts";
   * const clock = new SystemClock();
   * clock.clearTimer(clock.setTimer(5, () => console.log("never")));
   * ```
   */
  clearTimer(handle: TimerHandle): void {
    if (!(handle instanceof _SystemTimer) || !handle.active) return;
    handle.active = false;
    if (handle.id !== undefined) clearTimeout(handle.id);
    handle.id = undefined;
  }
}

class _ManualTimer implements TimerHandle {
  active = true;
  constructor(
    readonly clock: ManualClock,
    readonly due: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
}

function _before(a: _ManualTimer, b: _ManualTimer): boolean {
  return a.due !== b.due ? a.due < b.due : a.seq < b.seq;
}

/**
 * Virtual time for tests and simulation. Time moves only when told:
 * {@linkcode ManualClock.advance} fires every timer due up to the target in
 * (due time, scheduling order) order — including timers scheduled by a firing
 * timer, if due by the target — and {@linkcode ManualClock.runNext} jumps to
 * the next timer. During a callback, `now()` is the timer's due time. A
 * cleared timer never fires.
 *
 * If a callback throws, the error propagates out of `advance`/`runNext`
 * with the clock at that timer's due time; later timers stay pending.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock();
 * const fired: number[] = [];
 * clock.setTimer(20, () => fired.push(clock.now()));
 * clock.setTimer(10, () => {
 *   fired.push(clock.now());
 *   clock.setTimer(5, () => fired.push(clock.now())); // due at 15
 * });
 * clock.advance(30);
 * console.assert(fired.join() === "10,15,20" && clock.now() === 30);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #heap: _ManualTimer[] = [];
  #pending = 0;
  #firing = false;

  /**
   * Creates a {@linkcode ManualClock}.
   *
   * @param start the initial time in ms (default 0)
   */
  constructor(start: number = 0) {
    if (!Number.isFinite(start)) {
      throw new InvalidArgument("start", `start must be finite, got ${start}`);
    }
    this.#now = start;
  }

  /**
   * The current virtual time.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * console.assert(new ManualClock(100).now() === 100);
   * ```
   */
  now(): number {
    return this.#now;
  }

  /**
   * How many timers are scheduled and not yet fired or cleared.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock();
   * clock.setTimer(1, () => {});
   * console.assert(clock.pending === 1);
   * ```
   */
  get pending(): number {
    return this.#pending;
  }

  /**
   * The due time of the next pending timer, or `null` if there is none.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock();
   * clock.setTimer(7, () => {});
   * console.assert(clock.nextDue() === 7);
   * ```
   */
  nextDue(): number | null {
    return this.#peek()?.due ?? null;
  }

  /**
   * Schedules `fn` at `now() + delayMs` of virtual time.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock();
   * let fired = false;
   * clock.setTimer(10, () => fired = true);
   * clock.advance(10);
   * console.assert(fired);
   * ```
   */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = new _ManualTimer(this, this.#now + _checkDelay(delayMs), this.#seq++, fn);
    this.#push(timer);
    this.#pending++;
    return timer;
  }

  /**
   * Cancels a timer of this clock; it will never fire. Ignores handles of
   * other clocks and timers already fired or cleared.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock();
   * clock.clearTimer(clock.setTimer(10, () => { throw new Error("never"); }));
   * clock.advance(100);
   * ```
   */
  clearTimer(handle: TimerHandle): void {
    if (!(handle instanceof _ManualTimer) || handle.clock !== this || !handle.active) return;
    handle.active = false;
    this.#pending--;
    // Stays in the heap until it reaches the top; dropped there. Compact if
    // cleared timers dominate, so that clear-heavy use stays bounded.
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#pending) this.#compact();
  }

  /**
   * Moves time forward by `ms`, firing every timer due up to the new time, in
   * order; then sets the time to exactly `now() + ms`.
   *
   * @throws {InvalidArgument} if `ms` is negative or not finite.
   * @throws {Error} if called from inside a timer callback.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock();
   * clock.advance(250);
   * console.assert(clock.now() === 250);
   * ```
   */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new InvalidArgument("ms", `advance() needs a finite, non-negative ms, got ${ms}`);
    }
    const target = this.#now + ms;
    this.#enter();
    try {
      for (;;) {
        const next = this.#peek();
        if (next === undefined || next.due > target) break;
        this.#fire(next);
      }
      this.#now = target;
    } finally {
      this.#firing = false;
    }
  }

  /**
   * Fires the next pending timer, moving time forward to its due time if
   * later than now. Returns `false` (and does nothing) if none is pending.
   *
   * @throws {Error} if called from inside a timer callback.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock();
   * clock.setTimer(40, () => {});
   * console.assert(clock.runNext() && clock.now() === 40 && !clock.runNext());
   * ```
   */
  runNext(): boolean {
    this.#enter();
    try {
      const next = this.#peek();
      if (next === undefined) return false;
      this.#fire(next);
      return true;
    } finally {
      this.#firing = false;
    }
  }

  #enter(): void {
    if (this.#firing) {
      throw new Error("ManualClock: advance()/runNext() called from inside a timer callback");
    }
    this.#firing = true;
  }

  /** Removes `timer` (the heap's top), sets the time and calls it. */
  #fire(timer: _ManualTimer): void {
    this.#pop();
    timer.active = false;
    this.#pending--;
    if (timer.due > this.#now) this.#now = timer.due;
    timer.fn();
  }

  /** The earliest live timer, discarding cleared ones on the way. */
  #peek(): _ManualTimer | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && !heap[0]!.active) this.#pop();
    return heap[0];
  }

  #push(timer: _ManualTimer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!_before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    this.#siftDown(0);
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    let i = start;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && _before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && _before(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }

  #compact(): void {
    this.#heap = this.#heap.filter((t) => t.active);
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }
}
