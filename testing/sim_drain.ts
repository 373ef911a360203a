/**
 * {@linkcode MacrotaskBarrier}: waits until every pending microtask (queued
 * promise reactions and `queueMicrotask` callbacks, including those they
 * queue in turn) has run. The simulator calls it after each virtual-time
 * step so that the nodes' work triggered by the step is complete before the
 * invariants are checked.
 *
 * A message on a `MessageChannel` is a macrotask: the event loop delivers it
 * only once the microtask queue is empty. Unlike `setTimeout(fn, 0)` it is
 * not clamped (a few microseconds per round trip on Deno and Bun, where 200
 * nested zero timeouts take 1.2–2.3 ms each), and unlike a chain of `await`s
 * of a fixed length it cannot stop short.
 *
 * One caveat, measured on Deno 2: a message posted on a port whose previous
 * message was dispatched in the same microtask checkpoint can be delivered
 * *during* that checkpoint (the port's receive loop finds it already queued
 * and completes at once), i.e. before the microtasks queued ahead of it. Two
 * barriers in a row on one channel would then drain nothing. So the barrier
 * alternates between two channels: by the time a channel is used again, a
 * real macrotask (the other channel's message) has passed, so its receive
 * loop is waiting and the message goes through the event loop. A channel's
 * first use is preceded by a hop on the other channel for the same reason.
 *
 * @module
 */

/**
 * A reusable barrier on two `MessageChannel`s. Close it when done: an open
 * port keeps the process alive.
 *
 * @example
 * ```ts
 * import { MacrotaskBarrier } from "./sim_drain.ts";
 * const barrier = new MacrotaskBarrier();
 * let done = false;
 * Promise.resolve().then(() => Promise.resolve()).then(() => queueMicrotask(() => done = true));
 * await barrier.drain();
 * console.assert(done);
 * barrier.close();
 * ```
 */
export class MacrotaskBarrier {
  readonly #channels: MessageChannel[] = [new MessageChannel(), new MessageChannel()];
  readonly #waiters: (() => void)[][] = [[], []];
  #next = 0;
  #used = [false, false];
  #closed = false;

  constructor() {
    this.#channels.forEach((ch, i) => {
      ch.port1.onmessage = () => {
        const w = this.#waiters[i]!.shift();
        if (w !== undefined) w();
      };
    });
  }

  /** Resolves once every microtask queued before (and by them) has run. */
  async drain(): Promise<void> {
    if (this.#closed) throw new Error("MacrotaskBarrier is closed");
    const i = this.#next;
    this.#next = 1 - i;
    if (!this.#used[i]) {
      // First use of this channel: let its receive loop start waiting first.
      this.#used[i] = true;
      await this.#hop(1 - i);
    }
    await this.#hop(i);
  }

  #hop(i: number): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters[i]!.push(resolve);
      this.#channels[i]!.port2.postMessage(0);
    });
  }

  /** Closes the channels. Waiting drains never resolve. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ch of this.#channels) {
      ch.port1.onmessage = null;
      ch.port1.close();
      ch.port2.close();
    }
  }
}
