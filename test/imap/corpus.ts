// A small realistic corpus for the IMAP view tests: nested multiparts, attachments, encoded
// words in several charsets, an 8-bit body, an attached message, and malformed MIME.
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'binary');

/** multipart/mixed containing multipart/alternative (text + html) and a base64 attachment. */
export const nested = crlf(`From: =?UTF-8?B?0JDQu9C10LrRgdC10Lk=?= <alexey@example.ru>
To: "Bob" <bob@example.test>, carol@example.test
Cc: undisclosed-recipients:;
Subject: =?ISO-8859-1?Q?Caf=E9_au_lait?=
Date: Tue, 1 Jul 2025 10:00:00 +0200
Message-ID: <nested-1@example.ru>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 with m=C3=BCsli
--inner
Content-Type: text/html; charset=utf-8

<p>Caf&eacute; <b>bold</b></p>
--inner--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfs
--outer--
`);

/** An 8-bit KOI8-R body, Shift_JIS encoded-word subject. */
export const eightBit = Buffer.concat([
  crlf(`From: ivan@example.ru
To: bob@example.test
Subject: =?Shift_JIS?B?k/qWe4zq?=
Date: Wed, 2 Jul 2025 08:00:00 +0000
Content-Type: text/plain; charset=koi8-r
Content-Transfer-Encoding: 8bit

`),
  Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x0d, 0x0a]), // "Привет" in KOI8-R
]);

/** A forwarded message (message/rfc822) inside multipart/mixed. */
export const forwarded = crlf(`From: dave@example.test
To: bob@example.test
Subject: Fwd: hello
Date: Thu, 3 Jul 2025 12:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain

See below.
--b1
Content-Type: message/rfc822

From: erin@example.test
Subject: hello
Date: Thu, 3 Jul 2025 11:00:00 +0000
Content-Type: multipart/alternative; boundary=b2

--b2
Content-Type: text/plain

inner text
--b2
Content-Type: text/html

<i>inner html</i>
--b2--
--b1--
`);

/** Malformed: unknown boundary close missing, bad content type, header without colon. */
export const malformed = crlf(`From: mallory@example.test
Subject: broken
This line is not a header
Content-Type: multipart/mixed; boundary="never-closed"

--never-closed
Content-Type: garbage

part one
--never-closed
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: x-unknown

part two
`);

export const corpus = { nested, eightBit, forwarded, malformed };
