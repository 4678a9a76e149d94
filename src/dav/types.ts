// Shared types of the DAV server: resolved resources (nodes), the per-request context, the
// plugin contract and the HTTP error that carries a DAV:error condition. Plugins are typed
// objects registered in one list (src/dav/plugins/index.ts); the method and report tables are
// derived from them, so OPTIONS, the DAV header and supported-report-set follow what is installed.
// Must not: touch the store (services do) or parse XML (src/protocols/dav does).
import type { Request, Response } from 'express';
import type { AccountEntity, DavCollectionEntity, DavObjectEntity, GroupEntity } from '../../schemas/entities/index.js';
import type { PropFind, PropValue } from '../protocols/dav/multistatus.js';
import type { PropPatchOp } from '../protocols/dav/requests.js';
import type { XmlElement, XNode } from '../protocols/dav/xml.js';
import type { GalEntry } from '../protocols/dav/vcard.js';
import type { App } from '../instance/app.js';
import type { Access, GroupwareService, Home, NewObject, ProxyAccess } from '../services/groupware/groupware.service.js';
import type { SchedulingService } from '../services/groupware/scheduling.service.js';

export type DavNode =
  | { kind: 'root' }
  | { kind: 'principals' }
  | { kind: 'principal-users' }
  | { kind: 'principal-groups' }
  | { kind: 'principal'; account: AccountEntity }
  /** The account's calendar-proxy-read or calendar-proxy-write group (caldav-proxy.txt). */
  | { kind: 'proxy-group'; account: AccountEntity; access: ProxyAccess }
  | { kind: 'group-principal'; group: GroupEntity }
  | { kind: 'homes'; home: Home }
  /** `proxy`: the user sees another owner's calendar home as a calendar-proxy delegate. */
  | { kind: 'home'; home: Home; owner: AccountEntity; proxy?: ProxyAccess }
  | CollectionNode
  | { kind: 'gal'; owner: AccountEntity }
  | { kind: 'object'; parent: CollectionNode; object: DavObjectEntity }
  | { kind: 'gal-card'; entry: GalEntry; data: string }
  | { kind: 'subscription'; collection: DavCollectionEntity }
  | { kind: 'schedule-inbox'; owner: AccountEntity }
  | { kind: 'schedule-outbox'; owner: AccountEntity };

export interface CollectionNode {
  kind: 'collection';
  home: Home;
  /** Owner of the home the URL is under (the sharee for a mounted share). */
  homeOwner: AccountEntity;
  /** Owner of the data. */
  owner: AccountEntity;
  collection: DavCollectionEntity;
  access: Access;
  /** A share shown in the sharee's home (URL shared-<id>/). */
  mounted: boolean;
}

export interface Resolved {
  node: DavNode;
  href: string;
  /** Decoded path segments after /dav/. */
  segs: string[];
}

/** A URL that names nothing yet (PUT, MKCOL, MKCALENDAR targets). */
export interface Missing {
  /** The collection or home it would be created in; null when the parent does not exist. */
  parent: Resolved | null;
  name: string;
  href: string;
  segs: string[];
  /** The parent exists but the user may not see it: answer 404, never 409 or 403. */
  hidden?: boolean;
}

export interface DavContext {
  req: Request;
  res: Response;
  app: App;
  gw: GroupwareService;
  /** Implicit scheduling (RFC 6638); null when not wired (tests of the bare server). */
  sched: SchedulingService | null;
  user: AccountEntity;
  server: DavServerApi;
  body: Buffer;
  /** Lazily parsed XML body (null when empty). Throws HttpError 400 on bad XML. */
  xml(): XmlElement | null;
}

export interface DavServerApi {
  plugins: DavPlugin[];
  resolve(ctx: DavContext, segs: string[]): Promise<Resolved | Missing>;
  /** Members of a collection-like node, for Depth 1. */
  children(ctx: DavContext, r: Resolved): Promise<Resolved[]>;
  propFind(ctx: DavContext, r: Resolved, pf: PropFind): Promise<void>;
  principalHref(a: AccountEntity): string;
  homeHref(home: Home, a: AccountEntity): string;
  /** Turns a request href (absolute URL or path) into decoded segments under /dav/, or null. */
  hrefToSegs(href: string): string[] | null;
  hrefOf(segs: string[], collection: boolean): string;
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly condition?: XNode, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export type MethodHandler = (ctx: DavContext, target: Resolved | Missing) => Promise<void>;
export type ReportHandler = (ctx: DavContext, target: Resolved, body: XmlElement) => Promise<void>;

/** Outcome of a live property change: accepted (with its effect) or refused with a status. */
export type LivePatch = { status: 200; apply: (patch: CollectionPatch) => void } | { status: 403 | 409; condition?: XNode };
export type CollectionPatch = Partial<Pick<DavCollectionEntity, 'displayName' | 'description' | 'components' | 'timezone' | 'color' | 'sortOrder'>>;

export interface PutValidation { object: NewObject }

export interface DavPlugin {
  readonly name: string;
  /** Tokens for the DAV: response header (RFC 4918 §10.1). */
  readonly features: string[];
  readonly methods?: Record<string, MethodHandler>;
  /** REPORT handlers by Clark name of the body's root element. */
  readonly reports?: Record<string, ReportHandler>;
  /** Reports this plugin offers on a node (DAV:supported-report-set). */
  supportedReports?(r: Resolved): string[];
  /** Answers the properties it owns. */
  propFind?(ctx: DavContext, r: Resolved, pf: PropFind): void | Promise<void>;
  /** Handles a live property it owns; undefined = not mine. */
  propPatch?(ctx: DavContext, r: Resolved, op: PropPatchOp): LivePatch | undefined;
  /** Validates a PUT body into a storable object, for the collection kinds it owns. */
  validatePut?(ctx: DavContext, parent: CollectionNode, name: string, body: string, contentType: string): PutValidation | undefined;
  /** Extra HTTP methods allowed on a node (Allow header). */
  allowedMethods?(r: Resolved): string[];
}

export type { PropValue };
