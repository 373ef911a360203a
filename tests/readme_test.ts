import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const root = new URL("../", import.meta.url);

test("readme: the quick start runs as written (jsr imports mapped to this checkout)", async () => {
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const section = readme.slice(readme.indexOf("## Quick start"));
  const match = section.match(/```ts\n([\s\S]*?)```/);
  assert.ok(match, "README has a Quick start code block");
  const code = match[1]!
    .replaceAll(
      '"jsr:@x/raft/adapters/memory"',
      JSON.stringify(new URL("adapters/memory.ts", root).href),
    )
    .replaceAll('"jsr:@x/raft/kv"', JSON.stringify(new URL("kv/mod.ts", root).href))
    .replaceAll('"jsr:@x/raft/testing"', JSON.stringify(new URL("testing/mod.ts", root).href))
    .replaceAll('"jsr:@x/raft"', JSON.stringify(new URL("mod.ts", root).href));
  assert.ok(!code.includes("jsr:"), "every import was mapped");
  const dir = new URL(".tmp/", root);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`readme_quickstart_${Date.now()}.ts`, dir);
  writeFileSync(file, code);
  const logged: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => logged.push(args);
  try {
    await import(file.href);
  } finally {
    console.log = log;
    rmSync(file);
  }
  assert.deepEqual(logged, [["committed at", { term: 1, index: 3 }]]);
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-");
}

test("readme: relative links (README.md, bench/RESULTS.md, docs/tracing.md) reach files and headings that exist", () => {
  for (const doc of ["README.md", "bench/RESULTS.md", "docs/tracing.md"]) {
    const docUrl = new URL(doc, root);
    const text = readFileSync(docUrl, "utf8").replace(/```[\s\S]*?```/g, "");
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
      .filter((l) => !/^[a-z]+:/.test(l));
    if (doc === "README.md") assert.ok(links.includes("bench/RESULTS.md"), "README links RESULTS");
    for (const link of links) {
      const [path, hash] = link.split("#") as [string, string | undefined];
      const target = path === "" ? docUrl : new URL(path, docUrl);
      let body: string;
      try {
        body = readFileSync(target, "utf8");
      } catch {
        assert.fail(`${doc}: ${link} does not exist`);
      }
      if (hash !== undefined) {
        const anchors = [...body.matchAll(/^#+ (.*)$/gm)].map((m) => anchor(m[1]!));
        assert.ok(anchors.includes(hash), `${doc}: ${link}: no heading #${hash}`);
      }
    }
  }
});
