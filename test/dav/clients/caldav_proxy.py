#!/usr/bin/python3
# Drives calendar delegation with Debian's python3-caldav (0.11) as the delegate: reads
# CS:calendar-proxy-write-for on its own principal, opens the owner's calendar found there
# (calendar-home-set), lists its events and saves one. Prints one JSON object;
# test/dav/principals.test.ts asserts on it.
import json, re, sys
import caldav

base, user, password, owner = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
client = caldav.DAVClient(url=base + '/.well-known/caldav', username=user, password=password)
principal = client.principal()
body = ('<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
        '<d:prop><cs:calendar-proxy-write-for/></d:prop></d:propfind>')
r = client.propfind(str(principal.url), body, 0)
ns = {'d': 'DAV:', 'cs': 'http://calendarserver.org/ns/'}
hrefs = [h.text for h in r.tree.findall('.//cs:calendar-proxy-write-for/d:href', ns)]
out['proxy_write_for'] = [str(principal.url.join(h)) for h in hrefs]
owner_principal = caldav.Principal(client=client, url=out['proxy_write_for'][0])
calendars = owner_principal.calendars()
cal = [c for c in calendars if str(c.url).rstrip('/').endswith('/calendar')][0]
out['owner_events'] = sorted(m.group(1) for e in cal.events() for m in [re.search(r'^SUMMARY:(.*)$', e.data, re.M)] if m)
cal.save_event("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//python-caldav delegate test//EN
BEGIN:VEVENT
UID:py-delegate
DTSTAMP:20250101T000000Z
DTSTART:20250610T090000Z
DTEND:20250610T100000Z
SUMMARY:Booked by a delegate
END:VEVENT
END:VCALENDAR
""")
out['saved'] = True
print(json.dumps(out))
