/**
 * Peer security shared by both sides of the HTTP transport: the header
 * names, the shared secret's validation and its constant-time comparison.
 * Internal to the transport (not exported by `mod.ts`).
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** The request header carrying `Bearer <secret>`. */
export const AUTHORIZATION_HEADER = "authorization";
/** The request header naming the node the request is meant for (its id). */
export const TO_HEADER = "x-raft-to";
/** The request header naming the node that sent the request (its id). */
export const FROM_HEADER = "x-raft-from";
/** The request header carrying the sender's cluster id, percent-encoded. */
export const CLUSTER_HEADER = "x-raft-cluster";

/**
 * Checks a shared secret: a non-empty string of visible ASCII characters
 * (`!` to `~`, no spaces), so it travels unchanged in a header. Throws a
 * `ConfigError` naming `option` otherwise.
 *
 * @example
 * ```ts
 * import { checkSecret } from "./_peer_auth.ts";
 * console.assert(checkSecret("secret", "s3cr3t") === "s3cr3t");
 * ```
 */
export function checkSecret(option: string, secret: unknown): string {
  if (typeof secret !== "string" || !/^[\x21-\x7e]+$/.test(secret)) {
    throw new ConfigError(
      option,
      `${option} must be a non-empty string of visible ASCII characters (no spaces)`,
    );
  }
  return secret;
}

/**
 * Compares two byte arrays in time that depends only on their lengths, not
 * on where they differ: `false` at once for different lengths (compare
 * fixed-length digests to hide the length too, as {@linkcode SecretCheck} does).
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "./_peer_auth.ts";
 * console.assert(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
 * console.assert(!timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

async function _sha256(text: string): Promise<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/**
 * The server's check of a request's `authorization` header against the
 * shared secret: the SHA-256 digests of the offered token and of the secret
 * are compared with {@linkcode timingSafeEqual}, so neither the content nor
 * the length of the secret leaks through timing.
 *
 * @example
 * ```ts
 * import { SecretCheck } from "./_peer_auth.ts";
 * const check = new SecretCheck("s3cr3t");
 * console.assert(await check.accepts("Bearer s3cr3t"));
 * console.assert(!(await check.accepts("Bearer wrong")) && !(await check.accepts(null)));
 * ```
 */
export class SecretCheck {
  readonly #digest: Promise<Uint8Array>;

  /** @param secret the shared secret (checked by {@linkcode checkSecret}) */
  constructor(secret: string) {
    this.#digest = _sha256(checkSecret("secret", secret));
    this.#digest.catch(() => {});
  }

  /** Whether `header` (an `authorization` value, or `null`) is `Bearer <secret>`. */
  async accepts(header: string | null): Promise<boolean> {
    const token = header === null ? null : bearerToken(header);
    // A missing token is compared too (as ""), so it takes the same time.
    const offered = await _sha256(token ?? "");
    const expected = await this.#digest;
    return timingSafeEqual(offered, expected) && token !== null;
  }
}

/**
 * The token of an `authorization: Bearer <token>` value (scheme matched
 * case-insensitively), or `null` for another scheme or none.
 *
 * @example
 * ```ts
 * import { bearerToken } from "./_peer_auth.ts";
 * console.assert(bearerToken("bearer abc") === "abc" && bearerToken("Basic abc") === null);
 * ```
 */
export function bearerToken(header: string): string | null {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}
