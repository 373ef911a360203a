// Every command of a ```sh block in README.md and docs/*.md is exercised by a test:
// some file under tests/ holds the exact line `// exercises: <command>` (or .ci/run
// holds `# exercises: <command>`) in a test that runs that command. One test case
// per command; a missing marker fails naming the page, the line and the marker to add.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allMarkers, commandsOf, docPages, readPage } from "./_doc_blocks.ts";

const pages = ["README.md", ...docPages()];
const markers = allMarkers();
const marked = new Set(markers.map((m) => m.command));

for (const page of pages) {
  const commands = commandsOf(readPage(page).blocks);
  for (const { line, command } of commands) {
    test(`docs commands: ${page}:${line}: ${command}`, () => {
      assert.ok(
        marked.has(command),
        `${page}:${line}: the command ${JSON.stringify(command)} is exercised by no test: ` +
          `add the marker line\n  // exercises: ${command}\nto the test under tests/ that runs ` +
          `it (or "# exercises: ${command}" to .ci/run)`,
      );
    });
  }
}
