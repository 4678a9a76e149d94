#!/usr/bin/python3
# Drives Pochtamt with Debian's python3-caldav (0.11): discovery from the server root via
# /.well-known/caldav, create a calendar, PUT an event, time-range query (with expansion),
# sync-collection, delete. Prints one JSON object; test/dav/python-caldav.test.ts asserts on it.
import json, sys
from datetime import datetime, timezone
import caldav

base, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
client = caldav.DAVClient(url=base + '/.well-known/caldav', username=user, password=password)
principal = client.principal()
out['principal'] = str(principal.url)
out['calendars'] = sorted(c.name for c in principal.calendars())
cal = principal.make_calendar(name='Python Test', cal_id='pytest')
out['created'] = str(cal.url)
ev = cal.save_event("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//python-caldav test//EN
BEGIN:VEVENT
UID:py-weekly@example.test
DTSTAMP:20250101T000000Z
DTSTART;TZID=America/New_York:20250301T090000
DTEND;TZID=America/New_York:20250301T100000
RRULE:FREQ=WEEKLY;COUNT=6
SUMMARY:Weekly across the US DST change
END:VEVENT
END:VCALENDAR
""")
out['event_url'] = str(ev.url)
found = cal.date_search(start=datetime(2025, 3, 7, tzinfo=timezone.utc), end=datetime(2025, 3, 16, tzinfo=timezone.utc), expand=True)
starts = []
for f in found:
    for comp in f.icalendar_instance.walk('VEVENT'):
        starts.append(comp.get('dtstart').dt.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%SZ'))
out['expanded_starts'] = sorted(starts)
out['outside'] = len(cal.date_search(start=datetime(2026, 1, 1, tzinfo=timezone.utc), end=datetime(2026, 2, 1, tzinfo=timezone.utc)))
objs = cal.objects_by_sync_token(load_objects=False)
token = objs.sync_token
out['initial_sync'] = len(list(objs))
cal.save_event("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//python-caldav test//EN
BEGIN:VEVENT
UID:py-second@example.test
DTSTAMP:20250101T000000Z
DTSTART:20250410T120000Z
DTEND:20250410T130000Z
SUMMARY:Second
END:VEVENT
END:VCALENDAR
""")
ev.delete()
changes = cal.objects_by_sync_token(sync_token=token, load_objects=False)
out['sync_changes'] = sorted(str(o.url).rsplit('/', 1)[-1] for o in changes)
out['events_after_delete'] = len(cal.events())
cal.delete()
out['calendars_after'] = sorted(c.name for c in principal.calendars())
print(json.dumps(out))
