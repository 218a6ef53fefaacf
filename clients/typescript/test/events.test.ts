// EventPoller against a real node: another caller's update and a steal
// arrive through the long poll; a passivation ends the activation (ENDED
// arrives), and the poller says to resynchronise when the profile comes
// back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { op, WatchEventKind, type EventPoller, type ProfileUpdate } from "../src/index.js";
import { freshProfile, nodeClient } from "./harness.js";

/**
 * Polls until an update of profile id satisfies pred (or the deadline
 * passes), returning it and every event seen for id on the way.
 */
async function until(poller: EventPoller, id: string, pred: (u: ProfileUpdate) => boolean, limitMs = 20_000): Promise<{ hit: ProfileUpdate; seen: ProfileUpdate[] }> {
  const signal = AbortSignal.timeout(limitMs);
  const seen: ProfileUpdate[] = [];
  for await (const updates of poller.updates(signal)) {
    for (const u of updates.filter((u) => u.profile.id === id)) {
      seen.push(u);
      if (pred(u)) {
        return { hit: u, seen };
      }
    }
  }
  assert.fail(`no matching update for ${id} within ${limitMs} ms; saw ${JSON.stringify(seen.map((u) => ({ kinds: u.events.map((e) => WatchEventKind[e.kind]), resync: u.resync, loaded: u.loaded })))}`);
}

test("a poller sees another caller's update and a steal", async () => {
  const mine = nodeClient();
  const other = nodeClient();
  const profile = freshProfile("events");
  const s = await mine.acquireSession(profile, "server-a:events");
  // Short polls: the first one (the cursor starts "from now") waits out
  // its time, as nothing happens before it.
  const poller = mine.events({ waitMs: 300 });
  poller.follow(profile);
  assert.deepEqual(await poller.poll(), []);

  const pending = until(poller, profile.id, (u) => u.events.some((e) => e.kind === WatchEventKind.UPDATED));
  const res = await other.update({ profile, operations: [op.increment("/coins", 2)] });
  const { hit } = await pending;
  const ev = hit.events.find((e) => e.kind === WatchEventKind.UPDATED)!;
  assert.equal(ev.version, res.version);
  assert.equal(ev.operations[0]?.path, "/coins");
  assert.equal(ev.sessionId, "", "a change without a session");
  assert.equal(hit.resync, false);

  const stealing = until(poller, profile.id, (u) => u.events.some((e) => e.kind === WatchEventKind.SESSION_STOLEN));
  const thief = await other.acquireSession(profile, "server-b:events", { mode: "steal" });
  const stolen = (await stealing).hit.events.find((e) => e.kind === WatchEventKind.SESSION_STOLEN)!;
  assert.equal(stolen.previousSession, s.sessionId);
  assert.equal(stolen.sessionId, thief.sessionId);
  await thief.release();
});

test("a passivated profile ends its activation; the poller resynchronises when it comes back", async () => {
  const client = nodeClient();
  const profile = freshProfile("events-end");
  const s = await client.acquireSession(profile, "server-a:end");
  await s.update([op.set("/x", 1)]);
  const poller = client.events({ waitMs: 300 });
  poller.follow(profile);
  await poller.poll();

  // Released, the profile lingers (300 ms in the Go test's node), then
  // passivates: its activation ends.
  await s.release();
  // The poll delivers the activation's last events and ENDED; the poller
  // then follows the profile from the start of its next activation.
  const ended = await until(poller, profile.id, (u) => u.ended);
  assert.equal(ended.hit.resync, false);
  assert.equal(ended.hit.loaded, false);

  // Another caller brings it back: the poller cannot know what happened
  // between its polls, so it says to resynchronise once it sees it loaded.
  const back = until(poller, profile.id, (u) => u.loaded && u.resync);
  await nodeClient().update({ profile, operations: [op.set("/x", 2)] });
  await back;
});
