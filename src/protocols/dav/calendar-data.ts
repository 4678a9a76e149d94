// CalDAV partial retrieval (RFC 4791 §9.6): what a CALDAV:calendar-data element in a REPORT
// asks to be returned of a stored object. Order of application: the recurrence set is
// expanded (§9.6.5) or limited (§9.6.6), VFREEBUSY periods are limited (§9.6.7), then the
// CALDAV:comp/prop selection (§9.6.1-4) picks components and properties of the result.
// A request that changes nothing returns the stored text byte for byte (the ETag stays a
// validator of what the client got). Must not: do I/O or modify the parsed input (it may be
// shared by the parse cache); every output component is a copy.
import ICAL from 'ical.js';
import { expandCalendar, instances, propertyUtc } from './icalendar.js';
import type { CalendarDataRequest, CompSelection, TimeRange } from './requests.js';

type Component = InstanceType<typeof ICAL.Component>;
type Time = InstanceType<typeof ICAL.Time>;

/** Does this request need more than the stored text? */
export function changesData(req: CalendarDataRequest | null | undefined): boolean {
  return !!req && !!(req.comp || req.expand || req.limitRecurrence || req.limitFreebusy);
}

/** Is the requested media type one we produce (RFC 4791 §9.6 content-type/version)? */
export function supportedCalendarData(req: CalendarDataRequest | null | undefined): boolean {
  return !req || (req.contentType === 'text/calendar' && req.version === '2.0');
}

/**
 * The calendar-data value for one object. `parse` gives the parsed object (from a cache) and
 * is called only when the request changes the data.
 */
export function renderCalendarData(text: string, req: CalendarDataRequest | null | undefined, parse: () => Component, floatingTz: string | null): string {
  if (!req || !changesData(req)) return text;
  let vcal = parse();
  if (req.expand) vcal = expandCalendar(vcal, req.expand, floatingTz);
  else if (req.limitRecurrence) vcal = limitRecurrenceSet(vcal, req.limitRecurrence, floatingTz);
  if (req.limitFreebusy) vcal = limitFreebusySet(vcal, req.limitFreebusy);
  if (req.comp) vcal = selectComponent(vcal, req.comp);
  return vcal.toString() + '\r\n';
}

const copy = (c: Component): Component => new ICAL.Component(structuredClone(c.toJSON()));

/**
 * RFC 4791 §9.6.6: the master components as they are, and only those overridden instances
 * (components with a RECURRENCE-ID) that overlap the range — by their own time or by the
 * original instance they replace. Other components (VTIMEZONE, VFREEBUSY) are kept.
 */
export function limitRecurrenceSet(vcal: Component, range: TimeRange, floatingTz: string | null): Component {
  const ctx = { floatingTz };
  const keep = new Set<Component>();
  for (const type of ['vevent', 'vtodo', 'vjournal']) {
    const comps = vcal.getAllSubcomponents(type);
    if (!comps.some((c) => c.getFirstProperty('recurrence-id'))) continue;
    // Overrides whose own time overlaps (instances() places each at its DTSTART)…
    for (const inst of instances(vcal, type.toUpperCase(), range, ctx).list) {
      if (inst.comp.getFirstProperty('recurrence-id')) keep.add(inst.comp);
    }
    // …and those that replace an instance originally in the range (moved out of it).
    for (const c of comps) {
      const rid = propertyUtc(c, 'recurrence-id', floatingTz);
      if (rid !== null && (range.start === null || rid >= range.start) && (range.end === null || rid < range.end)) keep.add(c);
    }
  }
  const out = new ICAL.Component(structuredClone(vcal.toJSON()));
  out.removeAllSubcomponents();
  for (const c of vcal.getAllSubcomponents()) {
    if (c.getFirstProperty('recurrence-id') && ['vevent', 'vtodo', 'vjournal'].includes(c.name) && !keep.has(c)) continue;
    out.addSubcomponent(copy(c));
  }
  return out;
}

/** RFC 4791 §9.6.7: FREEBUSY periods of VFREEBUSY components limited to those in the range. */
export function limitFreebusySet(vcal: Component, range: TimeRange): Component {
  const out = copy(vcal);
  for (const fb of out.getAllSubcomponents('vfreebusy')) {
    for (const p of fb.getAllProperties('freebusy')) {
      const kept = (p.getValues() as Array<InstanceType<typeof ICAL.Period>>).filter((v) => {
        const s = (v.start as Time).toUnixTime() * 1000;
        const e = v.getEnd().toUnixTime() * 1000;
        return (range.end === null || s < range.end) && (range.start === null || e > range.start);
      });
      if (!kept.length) fb.removeProperty(p);
      else p.setValues(kept);
    }
  }
  return out;
}

/** RFC 4791 §9.6.1: the component with only the selected properties and sub-components. */
export function selectComponent(c: Component, sel: CompSelection): Component {
  const out = new ICAL.Component(c.name);
  for (const p of c.getAllProperties()) {
    const name = p.name.toUpperCase();
    if (sel.allProps) {
      out.addProperty(new ICAL.Property(structuredClone(p.toJSON())));
      continue;
    }
    const want = sel.props.find((x) => x.name === name);
    if (!want) continue;
    const json = structuredClone(p.toJSON()) as unknown[];
    // novalue="yes": the name and parameters only (§9.6.4).
    out.addProperty(new ICAL.Property(want.novalue ? [json[0], json[1], 'unknown', ''] as never : json as never));
  }
  for (const sub of c.getAllSubcomponents()) {
    if (sel.allComps) {
      out.addSubcomponent(copy(sub));
      continue;
    }
    const s = sel.comps.find((x) => x.name === sub.name.toUpperCase());
    if (s) out.addSubcomponent(selectComponent(sub, s));
  }
  return out;
}
