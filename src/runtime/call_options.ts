/**
 * `{ timeout, signal }` on the calls that wait (`clientWrite`,
 * `ensureLinearizable`, `changeMembership`, `addLearner`, `writeBlank`,
 * `transferLeader`…): the caller stops waiting after `timeout` ms
 * ({@linkcode Timeout}) or when `signal` aborts ({@linkcode Aborted}).
 * Either error's `logId` says whether the operation may still take effect:
 * `null` when it was withdrawn before reaching the log (or changes nothing),
 * a log id when it is in the log — then, like {@linkcode OutcomeUnknown},
 * another read tells.
 *
 * @module
 */

import { type Clock, MAX_TIMER_DELAY, type TimerHandle } from "../clock.ts";
import { Aborted, InvalidArgument, type RaftError, Timeout } from "../errors.ts";
import type { LogId } from "../types.ts";

/**
 * How long a caller waits: at most `timeout` ms, and until `signal` aborts.
 * Both optional; without either, a call waits until it settles.
 *
 * @example
 * ```ts
 * import type { CallOptions } from "./call_options.ts";
 * const options: CallOptions = { timeout: 2000, signal: AbortSignal.timeout(5000) };
 * ```
 */
export interface CallOptions {
  /** Stop waiting after this many milliseconds ({@linkcode Timeout}). */
  readonly timeout?: number;
  /** Stop waiting when it aborts ({@linkcode Aborted}, its reason as `cause`). */
  readonly signal?: AbortSignal;
}

/**
 * Checks `options`: `null` if usable, else the {@linkcode InvalidArgument}
 * to reject with.
 *
 * @example
 * ```ts
 * import { checkCallOptions } from "./call_options.ts";
 * console.assert(checkCallOptions({ timeout: -1 })?.code === "InvalidArgument");
 * console.assert(checkCallOptions({ timeout: 10 }) === null);
 * ```
 */
export function checkCallOptions(options: CallOptions | undefined): RaftError | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== "object") {
    return new InvalidArgument("options", "options must be an object");
  }
  const t = options.timeout;
  if (t !== undefined && !(typeof t === "number" && t > 0 && t <= MAX_TIMER_DELAY)) {
    return new InvalidArgument("timeout", `timeout must be a positive number of ms, got ${t}`);
  }
  const s = options.signal;
  if (s !== undefined && !(typeof s === "object" && s !== null && "aborted" in s)) {
    return new InvalidArgument("signal", "signal must be an AbortSignal");
  }
  return null;
}

/**
 * Runs `start` and settles with it, unless `options` end the wait first:
 * then `withdraw` is called (it cancels what it can and returns the log id
 * at which the operation may still take effect, or `null`) and the result
 * rejects with {@linkcode Timeout} or {@linkcode Aborted} carrying that log
 * id. A signal already aborted rejects at once, without starting. Without
 * a timeout or signal, this is `start()` itself: no timer, no listener.
 *
 * @example
 * ```ts
 * import { withCallOptions } from "./call_options.ts";
 * import { ManualClock } from "../clock.ts";
 * const clock = new ManualClock();
 * const never = withCallOptions(clock, "wait", { timeout: 10 }, () => new Promise<void>(() => {}));
 * clock.advance(10);
 * let code = "";
 * await never.catch((e) => (code = e.code));
 * console.assert(code === "Timeout");
 * ```
 */
export function withCallOptions<T>(
  clock: Clock,
  action: string,
  options: CallOptions | undefined,
  start: () => Promise<T>,
  withdraw: () => LogId | null = () => null,
): Promise<T> {
  const timeout = options?.timeout;
  const signal = options?.signal;
  if (timeout === undefined && signal === undefined) return start();
  if (signal?.aborted === true) {
    return Promise.reject(new Aborted(action, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: TimerHandle | undefined = undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer !== undefined) clock.clearTimer(timer);
      signal?.removeEventListener("abort", onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (finish()) reject(new Aborted(action, { cause: signal?.reason, logId: withdraw() }));
    };
    if (timeout !== undefined) {
      timer = clock.setTimer(timeout, () => {
        timer = undefined;
        if (finish()) reject(new Timeout(action, timeout, { logId: withdraw() }));
      });
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    start().then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e) => {
        if (finish()) reject(e);
      },
    );
  });
}
