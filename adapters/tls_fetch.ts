/**
 * {@linkcode tlsFetch}: a `fetch` that trusts a given certificate authority,
 * for {@linkcode HttpNetwork} to reach peers serving HTTPS with certificates
 * of a private CA:
 *
 * ```ts
 * import { HttpNetwork } from "../src/transport/mod.ts";
 * import { tlsFetch } from "./tls_fetch.ts";
 *
 * // The network of a node whose peers serve certificates of the CA in `caPath`.
 * async function network(caPath: string): Promise<HttpNetwork> {
 *   const caCert = await Deno.readTextFile(caPath); // the PEM text, not the path
 *   return new HttpNetwork({ fetch: await tlsFetch({ caCert }) });
 * }
 * ```
 *
 * The CA is trusted **in addition to** the runtime's root certificates (the
 * only choice Deno offers; Bun is given its bundled roots plus the CA), so
 * peers whose certificates chain to a public CA are trusted too. The runtime
 * verifies the peer's name as usual: its certificate must name the host of
 * the peer's address (an IP address SAN for `https://10.0.0.2:8001`).
 *
 * Runtime-specific: under Bun each request is `fetch(url, { ...init, tls:
 * { ca } })`; under Deno it is `fetch(url, { ...init, client })` with one
 * `Deno.createHttpClient({ caCerts })` (stable in Deno 2, no flag needed),
 * which holds a connection pool: call the returned function's `close()`
 * once nothing sends with it any more (after `raft.shutdown()`), or leave it
 * to be closed when the function is garbage-collected.
 *
 * @module
 */

import { ConfigError } from "../src/errors.ts";
import type { FetchFn } from "../src/transport/http_network.ts";

export type { FetchFn };

/**
 * Options of {@linkcode tlsFetch}.
 *
 * @example
 * ```ts
 * import type { TlsFetchOptions } from "./tls_fetch.ts";
 * const options: TlsFetchOptions = {
 *   caCert: "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n",
 * };
 * ```
 */
export interface TlsFetchOptions {
  /**
   * The PEM text of the CA certificate to trust (the contents of `ca.pem`,
   * not its path): one or more `-----BEGIN CERTIFICATE-----` blocks; text
   * around them is ignored.
   */
  readonly caCert: string;
}

/**
 * The function {@linkcode tlsFetch} resolves with: a {@linkcode FetchFn}
 * (pass it as `HttpNetwork({ fetch })`) that also has `close()`.
 *
 * @example
 * ```ts
 * import type { TlsFetchFn } from "./tls_fetch.ts";
 * import type { FetchFn } from "../src/transport/http_network.ts";
 * function done(fetch: TlsFetchFn): FetchFn {
 *   fetch.close(); // idempotent; a request sent after it rejects
 *   return fetch;
 * }
 * ```
 */
export type TlsFetchFn = FetchFn & {
  /**
   * Releases the connection pool (Deno's `HttpClient`; nothing to release
   * under Bun). Idempotent. Requests sent afterwards reject, under Deno.
   */
  close(): void;
};

/** The part of Deno's API used here (typed locally, so this file checks anywhere). */
interface _Deno {
  createHttpClient(options: { caCerts: string[] }): { close(): void };
}

/** `RequestInit` with the runtime-specific fields. */
type _Init = RequestInit & { client?: unknown; tls?: { ca: string[] } };

const _BEGIN = "-----BEGIN CERTIFICATE-----";
const _BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/**
 * A `fetch` that trusts `options.caCert` (PEM text of one or more CA
 * certificates) in addition to the runtime's root certificates; usable as
 * `new HttpNetwork({ fetch: await tlsFetch({ caCert }) })`. Under Bun it
 * adds `tls: { ca }` to each request; under Deno it sends through one
 * `Deno.createHttpClient({ caCerts })`, released by the returned function's
 * `close()` (or when the function is garbage-collected).
 *
 * Rejects with a {@linkcode ConfigError} (field `caCert`) when `caCert` is
 * not a string, holds no certificate block (e.g. a file path was passed
 * instead of the file's contents, or a private key), when a block is not a
 * valid X.509 certificate, or a certificate is expired or not yet valid —
 * problems that would otherwise surface only as every peer being
 * unreachable. Also a `ConfigError` on a runtime other than Deno or Bun.
 *
 * @example
 * ```ts
 * import { tlsFetch } from "./tls_fetch.ts";
 * import { ConfigError } from "../src/errors.ts";
 * import { HttpNetwork } from "../src/transport/http_network.ts";
 *
 * // A path is not PEM text: a clear error, at once.
 * const err = await tlsFetch({ caCert: "./certs/ca.pem" }).catch((e) => e);
 * console.assert(err instanceof ConfigError && err.field === "caCert");
 *
 * async function connect(caCert: string): Promise<HttpNetwork> {
 *   return new HttpNetwork({ fetch: await tlsFetch({ caCert }) });
 * }
 * ```
 */
export async function tlsFetch(options: TlsFetchOptions): Promise<TlsFetchFn> {
  const caCert: unknown = (options as { caCert?: unknown } | null | undefined)?.caCert;
  const blocks = _blocks(caCert);
  await _verify(blocks);
  const g = globalThis as { Bun?: unknown; Deno?: _Deno };
  if ("Bun" in globalThis && g.Bun !== undefined) {
    // `tls.ca` replaces Bun's roots (as in Node): give them back, then the CA.
    const { rootCertificates } = await import("node:tls");
    const ca = [...rootCertificates, ...blocks];
    const bunFetch = (input: string, init: RequestInit): Promise<Response> =>
      fetch(input, { ...init, tls: { ca } } as _Init);
    return Object.assign(bunFetch, { close: (): void => {} });
  }
  if ("Deno" in globalThis && g.Deno !== undefined) {
    const client = g.Deno.createHttpClient({ caCerts: blocks });
    const state = { closed: false };
    const release = (): void => {
      if (state.closed) return;
      state.closed = true;
      _clients.unregister(state);
      client.close();
    };
    const denoFetch = (input: string, init: RequestInit): Promise<Response> =>
      fetch(input, { ...init, client } as _Init);
    const fn: TlsFetchFn = Object.assign(denoFetch, { close: release });
    _clients.register(fn, client, state);
    return fn;
  }
  throw new ConfigError(
    "caCert",
    "tlsFetch needs Deno or Bun (their fetch takes a CA); on this runtime pass " +
      "HttpNetwork a fetch configured to trust the CA",
  );
}

/** Closes a Deno client whose fetch function was garbage-collected unclosed. */
const _clients = new FinalizationRegistry<{ close(): void }>((client) => {
  try {
    client.close();
  } catch {
    // Already closed.
  }
});

/** The normalized PEM certificate blocks of `caCert`, or a ConfigError saying what it is. */
function _blocks(caCert: unknown): string[] {
  if (typeof caCert !== "string") {
    throw new ConfigError(
      "caCert",
      `tlsFetch: caCert must be the PEM text of a CA certificate, got ${typeof caCert}`,
    );
  }
  const blocks: string[] = [];
  for (const m of caCert.matchAll(_BLOCK)) {
    const body = (m[1] ?? "").replace(/\s+/g, "");
    const lines = body.match(/.{1,64}/g) ?? [];
    blocks.push(`${_BEGIN}\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`);
  }
  if (blocks.length > 0) return blocks;
  let what: string;
  if (caCert.trim() === "") {
    what = "it is empty";
  } else if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(caCert)) {
    what = "it is a private key (pass the CA's certificate; keep its key secret)";
  } else if (caCert.includes("-----BEGIN ")) {
    const kind = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(caCert)?.[1] ?? "PEM";
    what = `it holds a ${kind} block, or a certificate block without its END line`;
  } else if (caCert.length <= 200 && !/[\r\n]/.test(caCert)) {
    // Short and on one line: most likely a path. Say so (it is not secret).
    what = `got ${JSON.stringify(caCert)}: pass the file's contents, not its path`;
  } else {
    what = "it is not PEM text";
  }
  throw new ConfigError(
    "caCert",
    `tlsFetch: caCert must be the PEM text of a CA certificate ("${_BEGIN}" …), but ${what}`,
  );
}

/** Parses each block as X.509 and checks its validity period; a ConfigError otherwise. */
async function _verify(blocks: readonly string[]): Promise<void> {
  let X509: typeof import("node:crypto").X509Certificate;
  try {
    X509 = (await import("node:crypto")).X509Certificate;
  } catch {
    return; // No node:crypto here: the runtime's TLS stack parses them when it connects.
  }
  const now = Date.now();
  for (const [i, pem] of blocks.entries()) {
    const which = blocks.length === 1
      ? "the certificate"
      : `certificate ${i + 1} of ${blocks.length}`;
    let cert: InstanceType<typeof X509>;
    try {
      cert = new X509(pem);
    } catch (e) {
      throw new ConfigError(
        "caCert",
        `tlsFetch: caCert: ${which} is not a valid X.509 certificate` +
          (e instanceof Error ? ` (${e.message})` : ""),
      );
    }
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (to < now) {
      throw new ConfigError(
        "caCert",
        `tlsFetch: caCert: ${which} (${cert.subject}) expired on ${cert.validTo}`,
      );
    }
    if (from > now) {
      throw new ConfigError(
        "caCert",
        `tlsFetch: caCert: ${which} (${cert.subject}) is not valid before ${cert.validFrom}`,
      );
    }
  }
}
