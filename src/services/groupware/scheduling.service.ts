// Implicit scheduling (RFC 6638 §3.2) on top of the groupware store: when an organizer stores or
// deletes a scheduled object, internal attendees get (or lose) their copy in their default
// calendar and external attendees get an iMIP REQUEST/CANCEL through delivery (the outbound
// queue); when an attendee changes their PARTSTAT, the organizer's copy is updated (internal) or
// an iMIP REPLY is sent (external). processIncoming() applies an iTIP message that arrived by
// mail (REPLY / CANCEL / REQUEST) to the recipient's calendar, matched by UID.
// Must not: schedule for SCHEDULE-AGENT=CLIENT attendees, or loop (server-made updates never
// trigger scheduling again). BUGS: no Schedule-Tag (RFC 6638 §3.2.10); the schedule inbox stays
// empty (messages are applied straight to calendars); per-occurrence replies are whole-object.
import type { AccountEntity } from '../../../schemas/entities/index.js';
import type { DeliveryService } from '../../delivery/delivery.service.js';
import type { Logger } from '../../observability/logger.js';
import { checkCalendarObject } from '../../protocols/dav/icalendar.js';
import { imipMessage, itipFromObject, itipReply, methodOf, schedulingInfo, storable, withPartstat } from '../../protocols/dav/itip.js';
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

  /** Called after `user` stored `newData` (replacing `oldData`, if any) in one of their calendars. */
  async afterPut(user: AccountEntity, oldData: string | null, newData: string): Promise<void> {
    const info = schedulingInfo(newData);
    const old = oldData ? schedulingInfo(oldData) : null;
    if (!info?.organizer) return;
    if (await this.isSelf(user, info.organizer)) {
      const keep = new Set(info.attendees.map((a) => a.address));
      for (const a of info.attendees) {
        if (a.address === info.organizer || a.scheduleAgent !== 'SERVER') continue;
        await this.sendRequest(user, a.address, newData);
      }
      for (const a of old?.attendees ?? []) {
        if (keep.has(a.address) || a.address === info.organizer || a.scheduleAgent !== 'SERVER') continue;
        await this.sendCancel(user, a.address, oldData!);
      }
      return;
    }
    const me = await this.attendeeAddress(user, info.attendees.map((a) => a.address));
    if (!me) return;
    const now = info.attendees.find((a) => a.address === me)!.partstat;
    const before = old?.attendees.find((a) => a.address === me)?.partstat ?? 'NEEDS-ACTION';
    if (now !== before) await this.sendReply(user, me, info.organizer, newData, now);
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
    if (me && info.attendees.find((a) => a.address === me)!.partstat !== 'DECLINED') await this.sendReply(user, me, info.organizer, oldData, 'DECLINED');
  }

  /** Applies an iTIP message received by mail for `accountId`. Returns what happened. */
  async processIncoming(accountId: number, itip: string): Promise<'applied' | 'ignored'> {
    const method = methodOf(itip);
    const info = schedulingInfo(itip);
    const account = await this.accounts.getAccountById(accountId);
    if (!method || !info?.uid || !account) return 'ignored';
    const existing = await this.gw.findByUid(accountId, info.uid);
    if (method === 'REPLY') {
      // Only the organizer's copy takes replies, and only for attendees it invited.
      if (!existing || !info.organizer || !(await this.isSelf(account, info.organizer))) return 'ignored';
      const cur = schedulingInfo(existing.object.data);
      let data = existing.object.data;
      for (const a of info.attendees) if (cur?.attendees.some((c) => c.address === a.address)) data = withPartstat(data, a.address, a.partstat);
      return (await this.store(existing.collection.id, existing.object.name, data)) ? 'applied' : 'ignored';
    }
    if (method === 'CANCEL') {
      if (!existing) return 'ignored';
      return (await this.store(existing.collection.id, existing.object.name, storable(itip))) ? 'applied' : 'ignored';
    }
    if (method === 'REQUEST') return (await this.deliverCopy(accountId, storable(itip))) ? 'applied' : 'ignored';
    return 'ignored';
  }

  // ---- internals ------------------------------------------------------------------------------

  private async isSelf(user: AccountEntity, address: string): Promise<boolean> {
    return address === user.address.toLowerCase() || this.accounts.canSendAs(user.id, address);
  }

  private async attendeeAddress(user: AccountEntity, addresses: string[]): Promise<string | null> {
    for (const a of addresses) if (await this.isSelf(user, a)) return a;
    return null;
  }

  private async sendRequest(organizer: AccountEntity, attendee: string, data: string): Promise<void> {
    const r = await this.accounts.resolveRecipient(attendee);
    if (r.kind === 'local') {
      for (const id of r.accountIds) if (id !== organizer.id) await this.deliverCopy(id, storable(data), attendee);
    } else if (r.kind === 'remote') {
      await this.imip(organizer.address, attendee, 'REQUEST', itipFromObject(data, 'REQUEST', this.now()), 'Invitation');
    }
  }

  private async sendCancel(organizer: AccountEntity, attendee: string, data: string): Promise<void> {
    const r = await this.accounts.resolveRecipient(attendee);
    if (r.kind === 'local') {
      for (const id of r.accountIds) {
        if (id === organizer.id) continue;
        const copy = await this.gw.findByUid(id, schedulingInfo(data)!.uid);
        if (copy) await this.store(copy.collection.id, copy.object.name, storable(itipFromObject(copy.object.data, 'CANCEL', this.now())));
      }
    } else if (r.kind === 'remote') {
      await this.imip(organizer.address, attendee, 'CANCEL', itipFromObject(data, 'CANCEL', this.now()), 'Cancelled');
    }
  }

  private async sendReply(attendee: AccountEntity, address: string, organizer: string, data: string, partstat: string): Promise<void> {
    const r = await this.accounts.resolveRecipient(organizer);
    if (r.kind === 'local') {
      for (const id of r.accountIds) {
        if (id === attendee.id) continue;
        const copy = await this.gw.findByUid(id, schedulingInfo(data)!.uid);
        if (copy && schedulingInfo(copy.object.data)?.attendees.some((a) => a.address === address)) {
          await this.store(copy.collection.id, copy.object.name, withPartstat(copy.object.data, address, partstat));
        }
      }
    } else if (r.kind === 'remote') {
      const label = partstat === 'ACCEPTED' ? 'Accepted' : partstat === 'DECLINED' ? 'Declined' : partstat === 'TENTATIVE' ? 'Tentative' : 'Reply';
      await this.imip(address, organizer, 'REPLY', itipReply(data, address, partstat, this.now()), label);
    }
  }

  /** Puts an invitation into the attendee's calendar, keeping the attendee's own PARTSTAT. */
  private async deliverCopy(accountId: number, data: string, attendeeAddress?: string): Promise<boolean> {
    const info = schedulingInfo(data);
    if (!info) return false;
    const existing = await this.gw.findByUid(accountId, info.uid);
    if (existing && attendeeAddress) {
      const mine = schedulingInfo(existing.object.data)?.attendees.find((a) => a.address === attendeeAddress);
      if (mine && mine.partstat !== 'NEEDS-ACTION') data = withPartstat(data, attendeeAddress, mine.partstat);
    }
    if (existing) return this.store(existing.collection.id, existing.object.name, data);
    const cal = await this.gw.defaultCalendar(accountId, info.componentType);
    if (!cal) return false;
    const name = `${info.uid.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200)}.ics`;
    return this.store(cal.id, name, data);
  }

  private async store(collectionId: number, name: string, data: string): Promise<boolean> {
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
    });
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
