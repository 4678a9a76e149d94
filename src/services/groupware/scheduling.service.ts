// Implicit scheduling (RFC 6638 §3.2) on top of the groupware store: when an organizer stores or
// deletes a scheduled object, internal attendees get (or lose) their copy in their default
// calendar and external attendees get an iMIP REQUEST/CANCEL through delivery (the outbound
// queue); when an attendee changes their PARTSTAT, the organizer's copy is updated (internal) or
// an iMIP REPLY is sent (external). processIncoming() applies an iTIP message that arrived by
// mail (REPLY / CANCEL / REQUEST) to the recipient's calendar, matched by UID, once delivery
// vouched for the sender (see imip-inbound.ts): a REPLY only from the attendee it speaks for, a
// REQUEST / CANCEL only from the organizer of the copy it touches.
// Every message delivered internally (and every iMIP message applied) is also left as an iTIP
// resource in the recipient's schedule inbox (RFC 6638 §4.1), for clients that read it.
// Schedule-Tag (RFC 6638 §3.2.10): a client's PUT and an organizer's update to an attendee
// copy give a new tag; merging a reply into the organizer's copy, or SCHEDULE-STATUS, keeps it.
// Must not: schedule for SCHEDULE-AGENT=CLIENT attendees, or loop (server-made updates never
// trigger scheduling again). An attendee's answer for one occurrence (an overridden instance
// with its own PARTSTAT) is replied for that instance only and lands in the organizer's copy as
// an overridden instance; an organizer's update keeps each attendee's earlier answers.
import type { AccountEntity, DavCollectionEntity } from '../../../schemas/entities/index.js';
import type { DeliveryService } from '../../delivery/delivery.service.js';
import type { Logger } from '../../observability/logger.js';
import { checkCalendarObject } from '../../protocols/dav/icalendar.js';
import {
  attendeeInstances, imipMessage, itipFromObject, itipReply, mergeAttendeeAnswers, methodOf, schedulingInfo, storable, withScheduleStatus,
} from '../../protocols/dav/itip.js';
import type { AccountService } from '../account.service.js';
import { newQueueId } from '../trace.service.js';
import type { GroupwareService } from './groupware.service.js';

export class SchedulingService {
  constructor(
    private readonly gw: GroupwareService,
    private readonly accounts: AccountService,
    private readonly delivery: DeliveryService,
    private readonly hostname: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Called after `user` stored `newData` (replacing `oldData`, if any) as `stored` in one of
   * their calendars. For an organizer, each attendee's SCHEDULE-STATUS (RFC 6638 §3.2.9) is
   * written back into the stored copy (same Schedule-Tag); returns true when the stored data
   * was changed that way (the PUT must then not return an ETag: it is not the client's body).
   */
  async afterPut(user: AccountEntity, oldData: string | null, newData: string, stored?: { collection: DavCollectionEntity; name: string; etag: string }): Promise<boolean> {
    const info = schedulingInfo(newData);
    const old = oldData ? schedulingInfo(oldData) : null;
    if (!info?.organizer) return false;
    if (await this.isSelf(user, info.organizer)) {
      const keep = new Set(info.attendees.map((a) => a.address));
      const statuses = new Map<string, string>();
      for (const a of info.attendees) {
        if (a.address === info.organizer || a.scheduleAgent !== 'SERVER') continue;
        statuses.set(a.address, await this.sendRequest(user, a.address, newData).catch((e: Error) => {
          this.log.warn({ event: 'dav.schedule.failed', to: a.address, err: e.message }, 'invitation not delivered');
          return '5.1';
        }));
      }
      for (const a of old?.attendees ?? []) {
        if (keep.has(a.address) || a.address === info.organizer || a.scheduleAgent !== 'SERVER') continue;
        await this.sendCancel(user, a.address, oldData!);
      }
      if (!stored || !statuses.size) return false;
      const withStatus = withScheduleStatus(newData, statuses);
      if (withStatus === newData) return false;
      return this.store(stored.collection.id, stored.name, withStatus, 'keep', stored.etag);
    }
    const me = await this.attendeeAddress(user, info.attendees.map((a) => a.address));
    if (!me) return false;
    // Answers per instance ('' = the whole series); a new override answering like the series did is no change.
    const now = attendeeInstances(newData, me);
    const before = oldData ? attendeeInstances(oldData, me) : new Map<string, string>();
    const changed = [...now].filter(([k, ps]) => ps !== (before.get(k) ?? before.get('') ?? 'NEEDS-ACTION')).map(([k]) => k);
    if (changed.length) await this.sendReply(user, me, info.organizer, newData, changed.includes('') ? null : changed);
    return false;
  }

  /**
   * RFC 6638 §3.2.10: an organizer's update made against a Schedule-Tag (If-Schedule-Tag-Match)
   * may be based on a copy older than the attendee answers merged since (they keep the tag);
   * those answers are kept rather than reset. Returns `incoming` itself when nothing changed.
   */
  async keepAnswers(user: AccountEntity, stored: string, incoming: string): Promise<string> {
    const info = schedulingInfo(incoming);
    if (!info?.organizer || !(await this.isSelf(user, info.organizer))) return incoming;
    let data = incoming;
    for (const a of info.attendees) if (a.address !== info.organizer) data = mergeAttendeeAnswers(data, stored, a.address, 'NEEDS-ACTION');
    return data;
  }

  /** Called after `user` deleted `oldData`: organizers cancel, attendees decline. */
  async afterDelete(user: AccountEntity, oldData: string): Promise<void> {
    const info = schedulingInfo(oldData);
    if (!info?.organizer) return;
    if (await this.isSelf(user, info.organizer)) {
      for (const a of info.attendees) {
        if (a.address === info.organizer || a.scheduleAgent !== 'SERVER') continue;
        await this.sendCancel(user, a.address, oldData);
      }
      return;
    }
    const me = await this.attendeeAddress(user, info.attendees.map((a) => a.address));
    if (me && info.attendees.find((a) => a.address === me)!.partstat !== 'DECLINED') await this.sendReply(user, me, info.organizer, oldData, null, 'DECLINED');
  }

  /**
   * Applies an iTIP message received by mail for `accountId`. `sender` is the From address the
   * delivery found authenticated: a REPLY must speak only for that attendee, a REQUEST or
   * CANCEL must come from the organizer of the copy it creates or changes. Returns what happened.
   */
  async processIncoming(accountId: number, itip: string, sender: string): Promise<'applied' | 'ignored'> {
    const method = methodOf(itip);
    const info = schedulingInfo(itip);
    const account = await this.accounts.getAccountById(accountId);
    const from = sender.trim().toLowerCase();
    if (!method || !info?.uid || !info.organizer || !account || account.deletedAt || !from) return 'ignored';
    const existing = await this.gw.findByUid(accountId, info.uid);
    const existingOrganizer = existing ? schedulingInfo(existing.object.data)?.organizer ?? null : null;
    let applied = false;
    if (method === 'REPLY') {
      // Only the organizer's copy takes replies, only for attendees it invited, only from them.
      if (!existing || !info.attendees.length || info.attendees.some((a) => a.address !== from)) return 'ignored';
      if (!existingOrganizer || existingOrganizer !== info.organizer || !(await this.isSelf(account, existingOrganizer))) return 'ignored';
      const cur = schedulingInfo(existing.object.data);
      if (!cur?.attendees.some((c) => c.address === from)) return 'ignored';
      const data = mergeAttendeeAnswers(existing.object.data, itip, from);
      applied = await this.store(existing.collection.id, existing.object.name, data, 'keep');
    } else if (method === 'CANCEL' || method === 'REQUEST') {
      if (info.organizer !== from || await this.isSelf(account, info.organizer)) return 'ignored';
      // A message may only touch a copy the same organizer made (no taking over a UID).
      if (existing && existingOrganizer !== from) return 'ignored';
      if (method === 'CANCEL') {
        if (!existing) return 'ignored';
        applied = await this.store(existing.collection.id, existing.object.name, storable(itip), 'new');
      } else {
        const me = await this.attendeeAddress(account, info.attendees.map((a) => a.address));
        if (!me) return 'ignored';
        applied = await this.deliverCopy(accountId, storable(itip), me);
      }
    }
    if (!applied) return 'ignored';
    await this.gw.toScheduleInbox(accountId, itip, info.componentType);
    return 'applied';
  }

  // ---- internals ------------------------------------------------------------------------------

  private async isSelf(user: AccountEntity, address: string): Promise<boolean> {
    return address === user.address.toLowerCase() || this.accounts.canSendAs(user.id, address);
  }

  private async attendeeAddress(user: AccountEntity, addresses: string[]): Promise<string | null> {
    for (const a of addresses) if (await this.isSelf(user, a)) return a;
    return null;
  }

  /** Delivers an invitation; returns the attendee's SCHEDULE-STATUS (RFC 6638 §3.2.9). */
  private async sendRequest(organizer: AccountEntity, attendee: string, data: string): Promise<string> {
    const r = await this.accounts.resolveRecipient(attendee);
    if (r.kind === 'local') {
      const request = itipFromObject(data, 'REQUEST', this.now());
      let delivered = 0;
      for (const id of r.accountIds) {
        if (id === organizer.id) continue;
        if (!(await this.deliverCopy(id, storable(data), attendee))) continue;
        await this.gw.toScheduleInbox(id, request, schedulingInfo(data)?.componentType ?? null);
        delivered++;
      }
      return delivered ? '1.2' : r.accountIds.every((id) => id === organizer.id) ? '1.2' : '5.1';
    }
    if (r.kind === 'remote') {
      await this.imip(organizer.address, attendee, 'REQUEST', itipFromObject(data, 'REQUEST', this.now()), 'Invitation');
      return '1.1';
    }
    return '3.7';
  }

  private async sendCancel(organizer: AccountEntity, attendee: string, data: string): Promise<void> {
    const r = await this.accounts.resolveRecipient(attendee);
    if (r.kind === 'local') {
      for (const id of r.accountIds) {
        if (id === organizer.id) continue;
        const copy = await this.gw.findByUid(id, schedulingInfo(data)!.uid);
        if (!copy) continue;
        const cancel = itipFromObject(copy.object.data, 'CANCEL', this.now());
        if (await this.store(copy.collection.id, copy.object.name, storable(cancel), 'new')) {
          await this.gw.toScheduleInbox(id, cancel, schedulingInfo(data)?.componentType ?? null);
        }
      }
    } else if (r.kind === 'remote') {
      await this.imip(organizer.address, attendee, 'CANCEL', itipFromObject(data, 'CANCEL', this.now()), 'Cancelled');
    }
  }

  /**
   * Sends `address`'s answers to the organizer: every instance (`instances` null) or only those
   * overridden instances; `force` replaces every answer (a deleted copy declines).
   */
  private async sendReply(attendee: AccountEntity, address: string, organizer: string, data: string, instances: string[] | null, force: string | null = null): Promise<void> {
    const reply = itipReply(data, address, force, this.now(), instances);
    const r = await this.accounts.resolveRecipient(organizer);
    if (r.kind === 'local') {
      for (const id of r.accountIds) {
        if (id === attendee.id) continue;
        const copy = await this.gw.findByUid(id, schedulingInfo(data)!.uid);
        if (copy && schedulingInfo(copy.object.data)?.attendees.some((a) => a.address === address)) {
          if (await this.store(copy.collection.id, copy.object.name, mergeAttendeeAnswers(copy.object.data, reply, address), 'keep')) {
            await this.gw.toScheduleInbox(id, reply, schedulingInfo(data)?.componentType ?? null);
          }
        }
      }
    } else if (r.kind === 'remote') {
      const answers = attendeeInstances(reply, address);
      const partstat = answers.get('') ?? [...answers.values()][0] ?? '';
      const label = partstat === 'ACCEPTED' ? 'Accepted' : partstat === 'DECLINED' ? 'Declined' : partstat === 'TENTATIVE' ? 'Tentative' : 'Reply';
      await this.imip(address, organizer, 'REPLY', reply, label);
    }
  }

  /** Puts an invitation into the attendee's calendar, keeping the attendee's own PARTSTAT. */
  private async deliverCopy(accountId: number, data: string, attendeeAddress?: string): Promise<boolean> {
    const info = schedulingInfo(data);
    if (!info) return false;
    const existing = await this.gw.findByUid(accountId, info.uid);
    // The attendee's earlier answers (series and single occurrences) survive the organizer's update.
    if (existing && attendeeAddress) data = mergeAttendeeAnswers(data, existing.object.data, attendeeAddress, 'NEEDS-ACTION');
    if (existing) return this.store(existing.collection.id, existing.object.name, data, 'new');
    const cal = await this.gw.defaultCalendar(accountId, info.componentType);
    if (!cal) return false;
    const name = `${info.uid.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200)}.ics`;
    return this.store(cal.id, name, data, 'new');
  }

  /** Stores a server-made change; `tag` says whether the Schedule-Tag changes (see the header). */
  private async store(collectionId: number, name: string, data: string, tag: 'new' | 'keep', ifMatch?: string): Promise<boolean> {
    const c = await this.gw.getCollectionById(collectionId);
    if (!c) return false;
    const check = checkCalendarObject(data, c.components.split(','));
    if (!check.ok) {
      this.log.warn({ event: 'dav.schedule.invalid', reason: check.message }, 'scheduling message not stored');
      return false;
    }
    const r = await this.gw.putObject(c, name, {
      data, contentType: 'text/calendar; charset=utf-8', uid: check.uid, componentType: check.componentType,
      firstStart: check.firstStart, lastEnd: check.lastEnd, recurring: check.recurring, occurrences: check.occurrences,
    }, { scheduleTag: tag, ifMatch: ifMatch ?? null });
    return r.ok;
  }

  private async imip(from: string, to: string, method: string, itip: string, label: string): Promise<void> {
    const summary = schedulingInfo(itip)?.summary ?? '';
    const raw = imipMessage({ from, to, method, itip, subject: `${label}: ${summary}`.trim(), hostname: this.hostname, now: this.now() });
    const sender = await this.accounts.getAccount(from);
    await this.delivery.deliver({ queueId: newQueueId(), sender: from, recipients: [to], raw, accountId: sender?.id ?? null });
    this.log.info({ event: 'dav.schedule.imip', method, to }, 'iMIP message queued');
  }
}
