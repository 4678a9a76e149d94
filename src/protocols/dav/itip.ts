// iTIP (RFC 5546) for implicit scheduling (RFC 6638) and iMIP (RFC 6047): reads the organizer
// and attendees of a stored object, builds REQUEST / REPLY / CANCEL messages from it, sets an
// attendee's PARTSTAT, and wraps a message in an iMIP e-mail. Must not: do I/O, read the clock
// (callers pass `now`), or decide who is internal.
// Per-instance answers (RFC 5546 §3.2.3: an attendee declines one occurrence) are carried as
// REPLY components with a RECURRENCE-ID and merged into overridden instances.
// BUGS: COUNTER / DECLINECOUNTER / REFRESH are not produced; RANGE=THISANDFUTURE is treated as
// the single instance.
import { randomBytes } from 'node:crypto';
import ICAL from 'ical.js';
import { parseICalendar } from './icalendar.js';

type Component = InstanceType<typeof ICAL.Component>;

export interface Attendee { address: string; partstat: string; scheduleAgent: string; cn: string | null }
export interface SchedulingInfo { uid: string; organizer: string | null; attendees: Attendee[]; summary: string; componentType: string }

export function addressOf(calAddress: unknown): string | null {
  const s = String(calAddress ?? '').trim();
  const m = /^mailto:(.+)$/i.exec(s);
  return m ? m[1]!.trim().toLowerCase() : null;
}

function components(vcal: Component): Component[] {
  return vcal.getAllSubcomponents().filter((c) => c.name !== 'vtimezone');
}

/** Organizer and attendees of the master (or first) component; null for unscheduled objects. */
export function schedulingInfo(text: string): SchedulingInfo | null {
  let vcal: Component;
  try {
    vcal = parseICalendar(text);
  } catch {
    return null;
  }
  const comps = components(vcal);
  const main = comps.find((c) => !c.getFirstProperty('recurrence-id')) ?? comps[0];
  if (!main) return null;
  const organizer = addressOf(main.getFirstPropertyValue('organizer'));
  const seen = new Map<string, Attendee>();
  for (const c of comps) {
    for (const p of c.getAllProperties('attendee')) {
      const address = addressOf(p.getFirstValue());
      if (!address || seen.has(address)) continue;
      seen.set(address, {
        address, partstat: String(p.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase(),
        scheduleAgent: String(p.getParameter('schedule-agent') ?? 'SERVER').toUpperCase(), cn: (p.getParameter('cn') as string | undefined) ?? null,
      });
    }
  }
  if (!organizer && !seen.size) return null;
  return {
    uid: String(main.getFirstPropertyValue('uid') ?? ''), organizer, attendees: [...seen.values()],
    summary: String(main.getFirstPropertyValue('summary') ?? ''), componentType: main.name.toUpperCase(),
  };
}

function clone(vcal: Component): Component {
  return new ICAL.Component(JSON.parse(JSON.stringify(vcal.toJSON())));
}

/** A REQUEST or CANCEL for the whole object (RFC 5546 §3.2.2 / §3.2.5). */
export function itipFromObject(text: string, method: 'REQUEST' | 'CANCEL', now: number): string {
  const vcal = clone(parseICalendar(text));
  vcal.removeAllProperties('method');
  vcal.addPropertyWithValue('method', method);
  for (const c of components(vcal)) {
    c.updatePropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(now), true));
    if (method === 'CANCEL') {
      c.updatePropertyWithValue('status', 'CANCELLED');
      const seq = Number(c.getFirstPropertyValue('sequence') ?? 0);
      c.updatePropertyWithValue('sequence', seq + 1);
    }
  }
  return vcal.toString() + '\r\n';
}

/**
 * A REPLY from one attendee: every component keeps only that attendee (RFC 5546 §3.2.3).
 * `partstat` forces one answer everywhere (null: each component keeps the attendee's own);
 * `instances` (keys from attendeeInstances()) keeps only those components.
 */
export function itipReply(text: string, attendee: string, partstat: string | null, now: number, instances: string[] | null = null): string {
  const vcal = clone(parseICalendar(text));
  vcal.removeAllProperties('method');
  vcal.addPropertyWithValue('method', 'REPLY');
  for (const c of components(vcal)) {
    if (instances && !instances.includes(instanceKey(c))) {
      vcal.removeSubcomponent(c);
      continue;
    }
    for (const p of c.getAllProperties('attendee')) if (addressOf(p.getFirstValue()) !== attendee) c.removeProperty(p);
    if (partstat) for (const p of c.getAllProperties('attendee')) p.setParameter('partstat', partstat);
    for (const n of ['description', 'valarm', 'location']) c.removeAllProperties(n);
    c.removeAllSubcomponents('valarm');
    c.updatePropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(now), true));
  }
  return vcal.toString() + '\r\n';
}

/** The object as stored for a calendar: no METHOD (RFC 4791 §4.1). */
export function storable(text: string): string {
  const vcal = clone(parseICalendar(text));
  vcal.removeAllProperties('method');
  return vcal.toString() + '\r\n';
}

/** Sets `attendee`'s PARTSTAT (and clears SCHEDULE-STATUS) in every component. */
export function withPartstat(text: string, attendee: string, partstat: string): string {
  const vcal = clone(parseICalendar(text));
  for (const c of components(vcal)) {
    for (const p of c.getAllProperties('attendee')) {
      if (addressOf(p.getFirstValue()) !== attendee) continue;
      p.setParameter('partstat', partstat);
      p.removeParameter('rsvp');
      p.removeParameter('schedule-status');
    }
  }
  return vcal.toString() + '\r\n';
}

/**
 * Sets SCHEDULE-STATUS (RFC 6638 §7.3) on the listed attendees in every component. Returns the
 * input unchanged (same string) when every attendee already carries its status.
 */
export function withScheduleStatus(text: string, statuses: Map<string, string>): string {
  const vcal = clone(parseICalendar(text));
  let changed = false;
  for (const c of components(vcal)) {
    for (const p of c.getAllProperties('attendee')) {
      const status = statuses.get(addressOf(p.getFirstValue()) ?? '');
      if (!status || String(p.getParameter('schedule-status') ?? '') === status) continue;
      p.setParameter('schedule-status', status);
      changed = true;
    }
  }
  return changed ? vcal.toString() + '\r\n' : text;
}

/** '' for the master component, else the RECURRENCE-ID as UTC seconds (TZID and UTC forms agree). */
function instanceKey(c: Component): string {
  const rid = c.getFirstPropertyValue('recurrence-id') as InstanceType<typeof ICAL.Time> | null;
  return rid ? String(rid.toUnixTime()) : '';
}

/** The attendee's PARTSTAT per instance: '' = master, else an overridden instance's key. */
export function attendeeInstances(text: string, attendee: string): Map<string, string> {
  const out = new Map<string, string>();
  let vcal: Component;
  try {
    vcal = parseICalendar(text);
  } catch {
    return out;
  }
  for (const c of components(vcal)) {
    const p = c.getAllProperties('attendee').find((a) => addressOf(a.getFirstValue()) === attendee);
    if (p) out.set(instanceKey(c), String(p.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase());
  }
  return out;
}

/**
 * Merges one attendee's answers from `source` (a REPLY, or the attendee's own earlier copy)
 * into `target`: the master answer into the master, an instance answer into the overridden
 * instance with that RECURRENCE-ID, creating the override from the master when there is none
 * (RFC 5546 §3.2.3: the organizer's copy records a per-occurrence decline). `skip` leaves out
 * answers with that PARTSTAT (NEEDS-ACTION when preserving answers across an update). Returns
 * `target` itself (the same string) when no answer differed.
 */
export function mergeAttendeeAnswers(target: string, source: string, attendee: string, skip: string | null = null): string {
  const vcal = clone(parseICalendar(target));
  const comps = components(vcal);
  const master = comps.find((c) => !c.getFirstProperty('recurrence-id'));
  const recurring = !!master && (master.hasProperty('rrule') || master.hasProperty('rdate'));
  let changed = false;
  const excluded = new Set((master?.getAllProperties('exdate') ?? []).flatMap((p) => p.getValues())
    .map((v) => String((v as InstanceType<typeof ICAL.Time>).toUnixTime())));
  for (const sc of components(parseICalendar(source))) {
    const mine = sc.getAllProperties('attendee').find((a) => addressOf(a.getFirstValue()) === attendee);
    const partstat = mine ? String(mine.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase() : null;
    if (!partstat || partstat === skip) continue;
    const key = instanceKey(sc);
    let tc = comps.find((c) => instanceKey(c) === key);
    if (!tc && key && master && recurring && !excluded.has(key)) {
      tc = overrideOf(master, sc.getFirstProperty('recurrence-id')!);
      vcal.addSubcomponent(tc);
      comps.push(tc);
      changed = true;
    }
    const p = tc?.getAllProperties('attendee').find((a) => addressOf(a.getFirstValue()) === attendee);
    if (!p) continue;
    if (String(p.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase() === partstat && !p.getParameter('rsvp')) continue;
    changed = true;
    p.setParameter('partstat', partstat);
    p.removeParameter('rsvp');
    p.removeParameter('schedule-status');
  }
  return changed ? vcal.toString() + '\r\n' : target;
}

/** A copy of the master standing for one instance: RECURRENCE-ID, shifted DTSTART/DTEND, no rules. */
function overrideOf(master: Component, ridProp: InstanceType<typeof ICAL.Property>): Component {
  const c = new ICAL.Component(JSON.parse(JSON.stringify(master.toJSON())));
  for (const n of ['rrule', 'rdate', 'exdate', 'recurrence-id']) c.removeAllProperties(n);
  const ridJson = JSON.parse(JSON.stringify(ridProp.toJSON())) as [string, Record<string, string>, string, string];
  delete ridJson[1].range;
  c.addProperty(new ICAL.Property(['recurrence-id', ...ridJson.slice(1)] as unknown as ConstructorParameters<typeof ICAL.Property>[0]));
  const start = master.getFirstPropertyValue('dtstart') as InstanceType<typeof ICAL.Time> | null;
  const end = master.getFirstPropertyValue('dtend') as InstanceType<typeof ICAL.Time> | null;
  c.removeAllProperties('dtstart');
  c.addProperty(new ICAL.Property(['dtstart', ...ridJson.slice(1)] as unknown as ConstructorParameters<typeof ICAL.Property>[0]));
  if (start && end) {
    const t = (ridProp.getFirstValue() as InstanceType<typeof ICAL.Time>).clone();
    t.addDuration(end.subtractDate(start));
    c.removeAllProperties('dtend');
    c.addProperty(new ICAL.Property(['dtend', ridJson[1], ridJson[2], t.toString()] as unknown as ConstructorParameters<typeof ICAL.Property>[0]));
  }
  return c;
}

export function methodOf(text: string): string | null {
  try {
    const v = parseICalendar(text).getFirstPropertyValue('method');
    return v ? String(v).toUpperCase() : null;
  } catch {
    return null;
  }
}

/** An iMIP e-mail (RFC 6047 §2): text part plus text/calendar with the method parameter. */
export function imipMessage(o: { from: string; to: string; method: string; itip: string; subject: string; hostname: string; now: number }): Buffer {
  const boundary = `=_pochtamt_${randomBytes(8).toString('hex')}`;
  const enc = (s: string) => (/^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s).toString('base64')}?=`);
  const b64 = Buffer.from(o.itip).toString('base64').replace(/.{76}/g, '$&\r\n');
  const lines = [
    `From: <${o.from}>`, `To: <${o.to}>`, `Subject: ${enc(o.subject)}`, `Date: ${new Date(o.now).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${randomBytes(12).toString('hex')}@${o.hostname}>`, 'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`, '',
    `--${boundary}`, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', o.subject, '',
    `--${boundary}`, `Content-Type: text/calendar; charset=utf-8; method=${o.method}`, 'Content-Transfer-Encoding: base64', '', b64, '',
    `--${boundary}--`, '',
  ];
  return Buffer.from(lines.join('\r\n'));
}
