import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

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

/** The pages whose relative links are checked: README.md, bench/RESULTS.md, every docs/*.md. */
const LINKED_PAGES: readonly string[] = [
  "README.md",
  "bench/RESULTS.md",
  ...readdirSync(new URL("docs/", root)).filter((f) => f.endsWith(".md")).sort().map((f) =>
    `docs/${f}`
  ),
];

test("readme: every docs page is checked for links, and the docs index lists every page", () => {
  const pages = LINKED_PAGES.filter((p) => p.startsWith("docs/") && p !== "docs/README.md");
  assert.ok(pages.length >= 10, `docs pages found: ${pages.join(", ")}`);
  const index = readFileSync(new URL("docs/README.md", root), "utf8");
  for (const page of pages) {
    const name = page.slice("docs/".length);
    assert.ok(index.includes(`](${name})`), `docs/README.md does not link ${name}`);
  }
});

for (const doc of LINKED_PAGES) {
  test(`readme: relative links of ${doc} reach files and headings that exist`, () => {
    const docUrl = new URL(doc, root);
    const text = readFileSync(docUrl, "utf8").replace(/```[\s\S]*?```/g, "")
      .replace(/`[^`\n]*`/g, "");
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
      .filter((l) => !/^[a-z]+:/.test(l));
    if (doc === "README.md") {
      assert.ok(links.includes("bench/RESULTS.md"), "README links RESULTS");
      assert.ok(links.includes("docs/README.md"), "README links the docs index");
    }
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
  });
}
