// Session: a game server's hold on one profile, carrying its token.
import type { CallOptions, HearthClient } from "./client.js";
import {
  Durability,
  type AcquireResponse,
  type GetResponse,
  type HeartbeatResponse,
  type ProfileRef,
  type PurchaseResponse,
  type ReleaseResponse,
  type UpdateResponse,
} from "./gen/hearth/v1/profile_pb.js";
import type { OperationInit } from "./operations.js";

/** Settings of one Session.update. */
export interface UpdateOptions {
  /** "memory" (the default): acknowledged once applied; "durable": once committed. */
  durability?: "memory" | "durable";
  /** Yours, or one made for this update; the same on every retry. */
  idempotencyKey?: string;
  /** Apply only if the document is at this version. */
  expectedVersion?: bigint;
}

/** A purchase under a session: the receipt id grants it once. */
export interface PurchaseInit {
  receiptId: string;
  productId: string;
  /** The operations that credit the product. */
  grant: OperationInit[];
  /** Kept in the purchase history as given (at most 16 KiB). */
  metadata?: string;
}

/**
 * Session is the result of HearthClient.acquireSession: the profile's
 * document as acquired, and the token every write of this session carries.
 * Writes renew the session; when none happens for a while, call heartbeat
 * well within ttlMs (a third of it, say). After release, or once a write
 * fails with STALE_SESSION (stolen, lapsed), the session is over: acquire
 * again.
 */
export class Session {
  readonly profile: ProfileRef;
  readonly sessionId: string;
  readonly token: string;
  /** The document as acquired (JSON text). */
  readonly document: string;
  /** True when this session already held the profile (a quick rejoin). */
  readonly reused: boolean;
  /** The session this one replaced (stolen or lapsed), if any. */
  readonly previousSession: string;
  /** The document version after this session's last write (or as acquired). */
  version: bigint;
  /** How long the session lasts without a write or heartbeat. */
  ttlMs: number;

  constructor(
    private readonly client: HearthClient,
    profile: ProfileRef,
    sessionId: string,
    res: AcquireResponse,
  ) {
    this.profile = profile;
    this.sessionId = sessionId;
    this.token = res.sessionToken;
    this.document = res.document;
    this.reused = res.reused;
    this.previousSession = res.previousSession;
    this.version = res.version;
    this.ttlMs = res.sessionTtlMs;
  }

  /** The document as acquired, parsed. */
  data<T = unknown>(): T {
    return JSON.parse(this.document) as T;
  }

  /** Applies operations atomically under this session. */
  async update(operations: OperationInit[], opts: UpdateOptions = {}, call?: CallOptions): Promise<UpdateResponse> {
    const res = await this.client.update(
      {
        profile: this.profile,
        operations,
        sessionToken: this.token,
        durability: opts.durability === "durable" ? Durability.DURABLE : Durability.MEMORY,
        idempotencyKey: opts.idempotencyKey ?? "",
        expectedVersion: opts.expectedVersion ?? 0n,
      },
      call,
    );
    this.version = res.version;
    return res;
  }

  /** Grants a purchase once per receipt id, durably, under this session. */
  async purchase(req: PurchaseInit, call?: CallOptions): Promise<PurchaseResponse> {
    const res = await this.client.purchase({ ...req, profile: this.profile, sessionToken: this.token }, call);
    if (res.purchase && !res.duplicate) {
      this.version = res.purchase.version;
    }
    return res;
  }

  /** Reads the document ("") or one path; no session needed, but handy here. */
  get(path = "", call?: CallOptions): Promise<GetResponse> {
    return this.client.get({ profile: this.profile, path }, call);
  }

  /** Renews the session without changing the profile. */
  async heartbeat(call?: CallOptions): Promise<HeartbeatResponse> {
    const res = await this.client.heartbeat({ profile: this.profile, sessionToken: this.token }, call);
    this.ttlMs = res.sessionTtlMs;
    return res;
  }

  /** Saves the profile and ends the session. */
  async release(call?: CallOptions): Promise<ReleaseResponse> {
    const res = await this.client.release({ profile: this.profile, sessionToken: this.token }, call);
    this.version = res.version;
    return res;
  }
}
