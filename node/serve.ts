/**
 * {@linkcode serve}: an HTTP(S) server for a request handler, with
 * `Bun.serve` under Bun and `Deno.serve` under Deno, and a `close` that
 * stops accepting and lets what is in flight finish.
 *
 * @module
 */

/**
 * The request handler {@linkcode serve} takes (`app.fetch` of a Hono app).
 *
 * @example
 * ```ts
 * import type { FetchHandler } from "./serve.ts";
 * const hello: FetchHandler = () => new Response("hello");
 * ```
 */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * Options of {@linkcode serve}.
 *
 * @example
 * ```ts
 * import type { ServeOptions } from "./serve.ts";
 * const options: ServeOptions = { hostname: "127.0.0.1", port: 0 };
 * ```
 */
export interface ServeOptions {
  /** Interface to listen on, e.g. `"127.0.0.1"` or `"0.0.0.0"`. */
  readonly hostname: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Serve HTTPS with this certificate (chain) and key, both PEM text. Plain HTTP when absent. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/**
 * A running server.
 *
 * @example
 * ```ts
 * import { serve, type Server } from "./serve.ts";
 * const server: Server = await serve(() => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export interface Server {
  /** The port it listens on. */
  readonly port: number;
  /**
   * Stops accepting connections and resolves once the requests in flight
   * were answered (`Deno.serve`'s `shutdown()`, `Bun.serve`'s `stop()`).
   * With `force`, open connections are closed at once (Bun; Deno has no
   * such call and waits as without it). Calling it again is harmless.
   */
  close(options?: { readonly force?: boolean }): Promise<void>;
}

interface _DenoServer {
  readonly addr: { readonly port: number };
  shutdown(): Promise<void>;
}

interface _DenoServeOptions {
  hostname: string;
  port: number;
  onListen: () => void;
  cert?: string;
  key?: string;
}

interface _Deno {
  serve(options: _DenoServeOptions, handler: FetchHandler): _DenoServer;
}

interface _BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface _BunServeOptions {
  hostname: string;
  port: number;
  fetch: FetchHandler;
  tls?: { cert: string; key: string };
}

interface _Bun {
  serve(options: _BunServeOptions): _BunServer;
}

const _globals = globalThis as unknown as { readonly Bun?: _Bun; readonly Deno?: _Deno };

/**
 * Serves `handler` on `hostname:port` (port 0: a free one) — HTTPS when
 * `tls` is given — with `Bun.serve` under Bun (checked first) and
 * `Deno.serve` under Deno. Resolves once it listens; rejects when it cannot
 * (port taken, bad certificate) or on another runtime.
 *
 * @example
 * ```ts
 * import { serve } from "./serve.ts";
 * const server = await serve(() => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * console.assert((await fetch(`http://127.0.0.1:${server.port}/`).then((r) => r.text())) === "hi");
 * await server.close();
 * ```
 */
export function serve(handler: FetchHandler, options: ServeOptions): Promise<Server> {
  const { hostname, port, tls } = options;
  try {
    if ("Bun" in globalThis && _globals.Bun !== undefined) {
      const server = _globals.Bun.serve({
        hostname,
        port,
        fetch: handler,
        ...(tls !== undefined ? { tls: { cert: tls.cert, key: tls.key } } : {}),
      });
      let closing: Promise<void> | null = null;
      return Promise.resolve({
        port: server.port,
        close: async (o = {}) => {
          if (o.force === true) {
            await server.stop(true);
            return;
          }
          closing ??= Promise.resolve(server.stop(false));
          await closing;
        },
      });
    }
    if (_globals.Deno !== undefined) {
      const server = _globals.Deno.serve({
        hostname,
        port,
        onListen: () => {},
        ...(tls !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      }, handler);
      let closing: Promise<void> | null = null;
      return Promise.resolve({
        port: server.addr.port,
        close: () => closing ??= server.shutdown(),
      });
    }
  } catch (e) {
    return Promise.reject(e);
  }
  return Promise.reject(new Error("serve() needs Deno or Bun"));
}
