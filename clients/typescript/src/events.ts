// EventPoller: one long poll at a time covering every followed profile,
// with a cursor per profile.
import { create } from "@bufbuild/protobuf";

import type { CallOptions, HearthClient, ProfileRefInit } from "./client.js";
import { HearthError, isRetryable } from "./errors.js";
import { ErrorCode, ProfileRefSchema, WatchEventKind, type ProfileRef, type WatchEvent } from "./gen/hearth/v1/profile_pb.js";

export interface EventPollerOptions {
  /**
   * How long each poll waits for news when there is none; 0 means the
   * node's default (the node caps it). Default 20 000.
   */
  waitMs?: number;
}

/** What one poll learned about one profile. */
export interface ProfileUpdate {
  profile: ProfileRef;
  /** The events since the last poll, oldest first. */
  events: WatchEvent[];
  /**
   * Events may have been missed (the cursor was too old, the profile was
   * passivated or moved, or it was activated since the last poll): re-read
   * the document, and heartbeat a session, before relying on local state.
   */
  resync: boolean;
  /** An ENDED event arrived: the activation stopped; later events come from the next one, after a resync. */
  ended: boolean;
  /** Whether a node has the profile loaded now. */
  loaded: boolean;
  /** The node could not answer for this profile this time (its owner unreachable, say); its cursor is kept. */
  error?: HearthError;
}

interface Followed {
  ref: ProfileRef;
  cursor: string;
  /** What the last answer said: undefined before the first. */
  loaded?: boolean;
}

function keyOf(p: { namespace?: string; id?: string }): string {
  return JSON.stringify([p.namespace ?? "", p.id ?? ""]);
}

/**
 * EventPoller follows a set of profiles' events with PollEvents: one
 * request per poll for all of them, so a game server learns of stolen or
 * lapsed sessions and of other servers' changes without a stream.
 *
 *     const poller = client.events();
 *     poller.follow({ namespace: "game", id: "p1" });
 *     for await (const updates of poller.updates(signal)) { ... }
 *
 * A profile is followed from the moment of its first poll: follow it
 * before reading it, or re-read after the first update that reports it.
 */
export class EventPoller {
  private readonly followed = new Map<string, Followed>();
  private readonly waitMs: number;

  constructor(
    private readonly client: HearthClient,
    options: EventPollerOptions = {},
  ) {
    this.waitMs = options.waitMs ?? 20_000;
  }

  /** Follows a profile's events from the next poll on (no-op if followed already). */
  follow(profile: ProfileRefInit): void {
    const key = keyOf(profile);
    if (!this.followed.has(key)) {
      this.followed.set(key, { ref: create(ProfileRefSchema, profile), cursor: "" });
    }
  }

  unfollow(profile: ProfileRefInit): void {
    this.followed.delete(keyOf(profile));
  }

  /** How many profiles are followed. */
  get size(): number {
    return this.followed.size;
  }

  /**
   * Polls once: waits up to waitMs for news, advances every cursor, and
   * returns the profiles with something to report (none when the wait
   * ran out). Failures reject as HearthError.
   */
  async poll(call: CallOptions = {}): Promise<ProfileUpdate[]> {
    const asked = [...this.followed.values()];
    const res = await this.client.pollEvents(
      { cursors: asked.map((f) => ({ profile: f.ref, cursor: f.cursor })), waitMs: this.waitMs },
      { timeoutMs: (this.waitMs || 25_000) + 10_000, ...call },
    );
    if (res.profiles.length !== asked.length) {
      throw new HearthError(ErrorCode.UNAVAILABLE, `PollEvents answered ${res.profiles.length} profiles for ${asked.length} cursors`);
    }
    const out: ProfileUpdate[] = [];
    res.profiles.forEach((pe, i) => {
      const f = this.followed.get(keyOf(asked[i]!.ref));
      if (f === undefined) {
        return; // unfollowed while the poll waited
      }
      if (keyOf(pe.profile ?? {}) !== keyOf(f.ref)) {
        throw new HearthError(ErrorCode.UNAVAILABLE, `PollEvents answered profile ${keyOf(pe.profile ?? {})} for ${keyOf(f.ref)}`);
      }
      if (pe.error) {
        out.push({ profile: f.ref, events: [], resync: false, ended: false, loaded: pe.loaded, error: HearthError.fromProto(pe.error) });
        return;
      }
      // A profile seen unloaded and now loaded was activated in between:
      // a cursor of "" starts from now, so what happened before is unknown.
      const resync = pe.resync || (pe.loaded && f.loaded === false);
      const ended = pe.events.some((e) => e.kind === WatchEventKind.ENDED);
      f.cursor = pe.cursor;
      f.loaded = pe.loaded;
      if (pe.events.length > 0 || resync) {
        out.push({ profile: f.ref, events: pe.events, resync, ended, loaded: pe.loaded });
      }
    });
    return out;
  }

  /**
   * Polls until signal aborts, yielding each non-empty poll's updates.
   * Retryable failures (UNAVAILABLE, FENCED: a node restarting) are
   * retried with backoff; others end the loop by throwing.
   */
  async *updates(signal?: AbortSignal): AsyncGenerator<ProfileUpdate[], void, undefined> {
    let failures = 0;
    while (!signal?.aborted) {
      let out: ProfileUpdate[];
      try {
        if (this.followed.size === 0) {
          await this.client.wait(this.waitMs || 1000, signal);
          continue;
        }
        out = await this.poll({ signal, retry: false });
        failures = 0;
      } catch (e) {
        if (signal?.aborted) {
          return;
        }
        if (!isRetryable(e)) {
          throw e;
        }
        failures++;
        try {
          await this.client.wait(this.client.backoffFor(failures, e as HearthError), signal);
        } catch {
          return; // aborted while backing off
        }
        continue;
      }
      if (out.length > 0) {
        yield out;
      }
    }
  }
}
