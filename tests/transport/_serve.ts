// Real HTTP servers for transport tests: the example's runtime-detecting
// serve() of node/serve.ts (Bun.serve under Bun, Deno.serve under Deno), on 127.0.0.1 only.
import { type FetchHandler, serve, type Server } from "../../node/serve.ts";

export type { Server };

/** Serves `handler` on 127.0.0.1, on a free port; returns the server and its base URL. */
export async function serveLocal(handler: FetchHandler): Promise<Server & { url: string }> {
  const server = await serve(handler, { hostname: "127.0.0.1", port: 0 });
  return { port: server.port, close: () => server.close(), url: `http://127.0.0.1:${server.port}` };
}

/** A port nothing listens on (a server bound it, then closed). */
export async function closedPort(): Promise<number> {
  const server = await serve(() => new Response(""), { hostname: "127.0.0.1", port: 0 });
  await server.close();
  return server.port;
}
