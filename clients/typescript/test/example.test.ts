// The example of docs/CLIENTS.md ("TypeScript"), run against the node; a
// second test checks that the docs show exactly this code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ErrorCode, HearthClient, HearthError, item, op, WatchEventKind } from "../src/index.js";
import { freshProfile, nodeToken, nodeUrl } from "./harness.js";

async function example(playerId: string, receipt: { id: string }, shutdown: AbortController) {
  // --- docs/CLIENTS.md ---
  const hearth = new HearthClient({ baseUrl: process.env.HEARTH_URL, token: process.env.HEARTH_TOKEN });
  const player = { namespace: "game", id: playerId };

  const session = await hearth.acquireSession(player, "eu-west-7:match-1234", { mode: "wait", waitMs: 5000 });
  const data = session.data<{ coins?: number }>();
  await session.update([op.increment("/coins", 5), op.set("/lastSeen", Date.now())]);
  // receipt: the store's receipt, delivered once or many times
  await session.purchase({ receiptId: receipt.id, productId: "gems-100", grant: [op.increment("/gems", 100)] });

  try {
    await hearth.acquireSession(player, "eu-west-9:match-77");
  } catch (e) {
    if (e instanceof HearthError && e.code === ErrorCode.SESSION_CONFLICT) {
      console.log(`held by ${e.holderSession}`); // or retry later, or { mode: "steal" }
    } else {
      throw e;
    }
  }

  const results = await hearth.batch([
    item.get({ profile: player, path: "/coins" }),
    item.update({ profile: { namespace: "game", id: "player-7" }, operations: [op.increment("/coins", 1)] }),
  ]);
  for (const r of results) {
    if (!r.ok) console.log(`${r.kind} failed: ${r.error.codeName}`);
  }

  const poller = hearth.events(); // each poll waits up to 20 s for news
  poller.follow(player);
  for await (const updates of poller.updates(shutdown.signal)) {
    for (const u of updates) {
      if (u.resync) {
        // re-read u.profile before relying on local state
      }
      for (const ev of u.events) {
        if (ev.kind === WatchEventKind.SESSION_STOLEN) console.log(`stolen by ${ev.sessionId}`);
      }
    }
  }

  await session.release();
  // --- end ---
  return { hearth, player, data, results };
}

/** The lines between the markers, less the function body's indent. */
function exampleSource(): string {
  const src = readFileSync("test/example.test.ts", "utf8");
  const body = src.slice(src.indexOf("// --- docs/CLIENTS.md ---\n") + 27, src.indexOf("  // --- end ---"));
  return body.replace(/^ {2}/gm, "");
}

test("the docs' TypeScript example runs", async () => {
  process.env.HEARTH_URL = nodeUrl;
  process.env.HEARTH_TOKEN = nodeToken;
  const shutdown = new AbortController();
  setTimeout(() => shutdown.abort(), 700); // the game server shuts down
  const logged: string[] = [];
  const consoleLog = console.log;
  console.log = (line: string) => logged.push(line);
  let out;
  try {
    out = await example(freshProfile("docs").id, { id: "receipt-docs-1" }, shutdown);
  } finally {
    console.log = consoleLog;
  }
  assert.deepEqual(out.data, {});
  assert.deepEqual(logged, ["held by eu-west-7:match-1234"]);
  assert.equal((await out.hearth.get({ profile: out.player, path: "/gems" })).value, "100");
  assert.ok(out.results.every((r) => r.ok));
});

test("docs/CLIENTS.md shows the example as it runs here", () => {
  const docs = readFileSync("../../docs/CLIENTS.md", "utf8");
  const section = docs.slice(docs.indexOf("\n## TypeScript\n"));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "no ```ts block in the TypeScript section");
  const code = block.slice(block.indexOf("\n\n") + 2); // after the import line
  assert.equal(code, exampleSource(), "update the example in docs/CLIENTS.md (or test/example.test.ts) so they match");
});
