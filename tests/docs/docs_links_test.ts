// Relative links of docs/*.md reach files, and headings, that exist (one case per page).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { docPages, ROOT } from "./_doc_blocks.ts";

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-");
}

for (const page of docPages()) {
  test(`docs links: ${page}`, () => {
    const text = readFileSync(join(ROOT, page), "utf8").replace(/```[\s\S]*?```/g, "");
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
      .filter((l) => !/^[a-z]+:/.test(l));
    for (const link of links) {
      const [path, hash] = link.split("#") as [string, string | undefined];
      const target = path === "" ? join(ROOT, page) : join(ROOT, dirname(page), path);
      let body: string;
      try {
        body = readFileSync(target, "utf8");
      } catch {
        assert.fail(`${page}: ${link}: no such file`);
      }
      if (hash !== undefined) {
        const anchors = [...body.matchAll(/^#+ (.*)$/gm)].map((m) => anchor(m[1]!));
        assert.ok(anchors.includes(hash), `${page}: ${link}: no heading #${hash}`);
      }
    }
  });
}
