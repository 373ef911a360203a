/**
 * The one clock timer of a node: armed after every turn for the engine's
 * next deadline (election timeout, heartbeat, lease or transfer expiry), it
 * schedules a turn when due.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";

/**
 * One timer for the earliest pending deadline.
 *
 * @example
 * ```ts
 * import { DeadlineTimer } from "./deadline_timer.ts";
 * import { SystemClock } from "../clock.ts";
 * const clock = new SystemClock();
 * const timer = new DeadlineTimer(clock, () => console.log("due"));
 * timer.arm(clock.now() + 50);
 * timer.stop();
 * ```
 */
export class DeadlineTimer {
  readonly #clock: Clock;
  readonly #onDue: () => void;
  #handle: TimerHandle | null = null;
  /** When the armed timer is due (`Infinity`: none). */
  #at = Infinity;
  readonly #fire = (): void => {
    this.#handle = null;
    this.#at = Infinity;
    this.#onDue();
  };

  /**
   * @param clock the node's clock
   * @param onDue called when the armed deadline is reached
   */
  constructor(clock: Clock, onDue: () => void) {
    this.#clock = clock;
    this.#onDue = onDue;
  }

  /** Arms the timer for deadline `at` (`Infinity`: none), unless one due no later is armed. */
  arm(at: number): void {
    if (at === this.#at) return;
    // A timer due earlier than needed stays (re-arming costs more than an early wake-up,
    // which re-arms for the rest): followers push their deadline on every append.
    if (this.#handle !== null && this.#at <= at) return;
    if (this.#handle !== null) this.#clock.clearTimer(this.#handle);
    this.#handle = null;
    this.#at = at;
    if (at === Infinity) return;
    this.#handle = this.#clock.setTimer(Math.max(0, at - this.#clock.now()), this.#fire);
  }

  /** Clears the armed timer, for good (shutdown, fatal error). */
  stop(): void {
    if (this.#handle !== null) this.#clock.clearTimer(this.#handle);
    this.#handle = null;
  }
}
