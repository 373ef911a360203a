/**
 * Randomness for the protocol (election jitter), injectable so that a
 * simulation is reproducible: {@linkcode SeededRandom} gives the same
 * sequence for the same seed; {@linkcode cryptoRandom} is the real default,
 * a `SeededRandom` whose seed comes from `crypto.getRandomValues` (and can be
 * logged to replay a run).
 *
 * @module
 */
import { InvalidArgument } from "./errors.ts";

/**
 * A source of random numbers.
 *
 * @example
 * ```ts
 * import { type Random, SeededRandom } from "./random.ts";
 * const random: Random = new SeededRandom(42);
 * const jitter = random.int(150, 300); // 150 ≤ jitter < 300
 * ```
 */
export interface Random {
  /** A number uniformly distributed in [0, 1). */
  next(): number;
  /**
   * An integer uniformly distributed in [minInclusive, maxExclusive).
   * Throws an `InvalidArgument` unless both are safe integers and min < max.
   */
  int(minInclusive: number, maxExclusive: number): number;
}

const _TWO_POW_32 = 0x1_0000_0000;
const _TWO_POW_53 = 2 ** 53;

/**
 * A small, fast, deterministic PRNG: sfc32 (Chris Doty-Humphrey's Small Fast
 * Counting generator, 128-bit state) seeded through splitmix32. The same seed
 * always yields the same sequence, on every runtime. Not for cryptography.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "./random.ts";
 * const a = new SeededRandom(7);
 * const b = new SeededRandom(7);
 * console.assert(a.next() === b.next() && a.int(0, 10) === b.int(0, 10));
 * ```
 */
export class SeededRandom implements Random {
  /** The seed this generator started from: log it to replay a run. */
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Creates a {@linkcode SeededRandom}.
   *
   * @param seed any safe integer (negative and values above 2^32 included)
   * @throws {InvalidArgument} if `seed` is not a safe integer
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new InvalidArgument("seed", `seed must be a safe integer, got ${seed}`);
    }
    this.seed = seed;
    // splitmix32 over the low 32 bits, with the high bits mixed in after the
    // first word, so that seeds differing only above bit 32 differ too.
    let state = seed >>> 0;
    const high = Math.floor(seed / _TWO_POW_32) >>> 0;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix();
    state = (state ^ high) | 0;
    this.#b = splitmix();
    this.#c = splitmix();
    this.#d = splitmix();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /**
   * The next 32 random bits, as an integer in [0, 2^32).
   *
   * @example
   * ```ts
   * import { SeededRandom } from "./random.ts";
   * const x = new SeededRandom(1).nextUint32();
   * console.assert(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
   * ```
   */
  nextUint32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /**
   * A number uniformly distributed in [0, 1), with 32 bits of precision.
   *
   * @example
   * ```ts
   * import { SeededRandom } from "./random.ts";
   * const x = new SeededRandom(1).next();
   * console.assert(x >= 0 && x < 1);
   * ```
   */
  next(): number {
    return this.nextUint32() / _TWO_POW_32;
  }

  /**
   * An integer uniformly distributed in [minInclusive, maxExclusive),
   * without modulo bias.
   *
   * @throws {InvalidArgument} unless both bounds are safe integers, min < max,
   * and the range is at most 2^53.
   *
   * @example
   * ```ts
   * import { SeededRandom } from "./random.ts";
   * const die = new SeededRandom(3).int(1, 7);
   * console.assert(die >= 1 && die <= 6);
   * ```
   */
  int(minInclusive: number, maxExclusive: number): number {
    if (!Number.isSafeInteger(minInclusive) || !Number.isSafeInteger(maxExclusive)) {
      throw new InvalidArgument(
        "range",
        `int() bounds must be safe integers, got [${minInclusive}, ${maxExclusive})`,
      );
    }
    const range = maxExclusive - minInclusive;
    if (range <= 0) {
      throw new InvalidArgument(
        "range",
        `int() needs min < max, got [${minInclusive}, ${maxExclusive})`,
      );
    }
    if (range <= _TWO_POW_32) {
      // Reject the top partial block so that every value is equally likely.
      const limit = _TWO_POW_32 - (_TWO_POW_32 % range);
      let x = this.nextUint32();
      while (x >= limit) x = this.nextUint32();
      return minInclusive + (x % range);
    }
    if (range > _TWO_POW_53) {
      throw new InvalidArgument("range", `int() range must be at most 2^53, got ${range}`);
    }
    // 53 random bits; reject the partial block as above.
    const limit = _TWO_POW_53 - (_TWO_POW_53 % range);
    for (;;) {
      const x = (this.nextUint32() >>> 5) * 0x4000000 + (this.nextUint32() >>> 6);
      if (x < limit) return minInclusive + (x % range);
    }
  }
}

/**
 * A fresh seed from `crypto.getRandomValues`: a non-negative safe integer
 * (53 random bits).
 *
 * @example
 * ```ts
 * import { randomSeed, SeededRandom } from "./random.ts";
 * const seed = randomSeed();
 * console.log(`seed ${seed}`); // log it, replay with new SeededRandom(seed)
 * const random = new SeededRandom(seed);
 * ```
 */
export function randomSeed(): number {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0]! >>> 11) * _TWO_POW_32 + words[1]!;
}

/**
 * The real default: a {@linkcode SeededRandom} seeded from
 * `crypto.getRandomValues`. Its `seed` can be logged to replay a run.
 *
 * @example
 * ```ts
 * import { cryptoRandom } from "./random.ts";
 * const random = cryptoRandom();
 * const timeout = random.int(150, 300);
 * console.assert(timeout >= 150 && timeout < 300 && Number.isSafeInteger(random.seed));
 * ```
 */
export function cryptoRandom(): SeededRandom {
  return new SeededRandom(randomSeed());
}
