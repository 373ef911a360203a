// End to end over HTTPS: three examples/kv.ts processes with --tls-cert,
// --tls-key and --tls-ca (a CA and a 127.0.0.1 certificate made at test time
// with the openssl CLI; skipped without it), formed with --init + --join.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tlsFetch } from "../../adapters/tls_fetch.ts";
import type { AdminMetricsJSON } from "../../src/transport/admin_routes.ts";
import { makeTestCerts } from "../_tls_certs.ts";
import { type Child, run, tempDir, until, urlOf, within } from "./_process.ts";

test(
  "e2e TLS: a 3-node cluster over https (--tls-cert/--tls-key/--tls-ca) replicates; plain http is refused",
  {
    timeout: 40_000,
  },
  async (t) => {
    const dir = await tempDir("raft-e2e-tls-");
    const children: Child[] = [];
    try {
      const certs = await makeTestCerts(join(dir.path, "certs"));
      if (certs === null) {
        t.skip("the openssl CLI is not installed: cannot make test certificates");
        return;
      }
      const certDir = join(dir.path, "certs");
      const tls = [
        "--tls-cert",
        join(certDir, "server.pem"),
        "--tls-key",
        join(certDir, "server.key"),
        "--tls-ca",
        join(certDir, "ca.pem"),
      ];
      const secret = ["--secret", "tls-s3cr3t"];
      const start = async (id: number, args: string[]): Promise<string> => {
        const child = run([
          "--id",
          String(id),
          "--addr",
          "127.0.0.1:0",
          "--data",
          join(dir.path, `node-${id}`),
          ...tls,
          ...secret,
          ...args,
        ]);
        children.push(child);
        return urlOf(await child.line(/listening on/));
      };
      const url1 = await start(1, ["--init"]);
      assert.match(url1, /^https:\/\/127\.0\.0\.1:\d+$/);
      const url2 = await start(2, ["--join", url1.replace("https://", "")]); // host:port → https
      const url3 = await start(3, ["--join", url1]);
      const fetchTls = await tlsFetch({ caCert: certs.caCert });
      try {
        const get = async (url: string, init: RequestInit = {}) => {
          const res = await fetchTls(url, { signal: AbortSignal.timeout(10_000), ...init });
          return { status: res.status, text: await res.text() };
        };
        const m = JSON.parse(
          (await get(`${url3}/cluster/metrics`, {
            headers: { authorization: "Bearer tls-s3cr3t" },
          })).text,
        ) as AdminMetricsJSON;
        assert.deepEqual(m.membership.voters, [1, 2, 3]);
        assert.deepEqual(m.membership.nodes, { "1": url1, "2": url2, "3": url3 });
        const put = await get(`${url2}/kv/secure`, { method: "PUT", body: "yes" }); // 307 → leader
        assert.equal(put.status, 200, put.text);
        for (const url of [url1, url2, url3]) {
          await until(`${url} applied the write`, async () => {
            const r = await get(`${url}/kv/secure?read=local`);
            return r.status === 200 && r.text === "yes" ? true : undefined;
          });
        }
        await assert.rejects(
          fetch(url1.replace("https://", "http://") + "/health", {
            signal: AbortSignal.timeout(5000),
          }).then((r) => r.text()),
          "plain HTTP on the HTTPS port",
        );
        await assert.rejects(
          fetch(`${url1}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()),
          "a client that does not trust the CA",
        );
      } finally {
        fetchTls.close();
      }
      for (const child of children) child.kill("SIGTERM");
      for (const child of children) assert.equal(await within(child.exited, 10_000, "SIGTERM"), 0);
    } finally {
      for (const child of children) child.kill("SIGKILL");
      await Promise.all(children.map((c) => c.exited));
      await dir.remove();
    }
  },
);
