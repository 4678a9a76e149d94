// A deterministic corpus of RFC 5322 messages of varied size and structure for the IMAP
// benchmark: plain text, text+HTML alternatives, attachments, nested multiparts, encoded-word
// subjects in several charsets, 8-bit bodies. The same seed gives the same bytes, so both
// servers are loaded with identical messages.

import { between, pick, rng } from '../common/random.js';

/** Envelope sender of the corpus: Pochtamt's delivery adds `Return-Path: <CORPUS_SENDER>`, the maildir copies get the same line. */
export const CORPUS_SENDER = 'sender@example.net';

/** Words the bodies and subjects are made of; SEARCH uses some of them. */
export const WORDS = [
  'quarterly', 'report', 'meeting', 'budget', 'invoice', 'project', 'deadline', 'review', 'schedule', 'update',
  'customer', 'contract', 'proposal', 'shipment', 'travel', 'lunch', 'release', 'server', 'backup', 'migration',
  'roadmap', 'feedback', 'holiday', 'payroll', 'security', 'incident', 'design', 'prototype', 'warehouse', 'forecast',
  'the', 'and', 'for', 'with', 'this', 'that', 'please', 'thanks', 'regards', 'tomorrow', 'today', 'next', 'week',
] as const;
/** A word present in roughly 1 message in 20 (in subject or body), for SEARCH SUBJECT/TEXT. */
export const RARE_WORD = 'zeppelin';
export const SENDERS = [
  'alice@example.org', 'bob@example.net', 'carol@partner.test', 'dmitri@example.ru', 'eve@vendor.test',
  'frank@example.de', 'grace@example.fr', 'heidi@example.jp', 'ivan@example.ru', 'judy@example.com',
] as const;
const NAMES: Record<string, string> = {
  'alice@example.org': 'Alice Martin', 'bob@example.net': 'Bob Stone', 'carol@partner.test': 'Carol White',
  'dmitri@example.ru': '=?UTF-8?B?0JTQvNC40YLRgNC40Lkg0JjQstCw0L3QvtCy?=', 'eve@vendor.test': 'Eve Adams',
  'frank@example.de': '=?ISO-8859-1?Q?Frank_M=FCller?=', 'grace@example.fr': '=?UTF-8?Q?Gr=C3=A2ce_L=C3=A9vy?=',
  'heidi@example.jp': '=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?=', 'ivan@example.ru': '=?KOI8-R?B?6dfBzg==?=', 'judy@example.com': 'Judy Kim',
};
const ENCODED_SUBJECTS = [
  '=?UTF-8?B?0J7RgtGH0ZHRgiDQt9CwINC60LLQsNGA0YLQsNC7?=', // Russian
  '=?UTF-8?Q?R=C3=A9union_de_projet?=',
  '=?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=',
  '=?UTF-8?B?5Lya6K2w44Gu44GK55+l44KJ44Gb?=', // Japanese
];

function sentence(r: () => number, rare: boolean): string {
  const n = between(r, 6, 16);
  const w: string[] = [];
  for (let i = 0; i < n; i++) w.push(pick(r, WORDS));
  if (rare) w.splice(between(r, 0, w.length), 0, RARE_WORD);
  const s = w.join(' ');
  return `${s[0]!.toUpperCase()}${s.slice(1)}.`;
}

/** Text of about `bytes` bytes in lines under 78 characters. */
function text(r: () => number, bytes: number, rare: boolean): string {
  const lines: string[] = [];
  let size = 0;
  let line = '';
  let first = true;
  while (size < bytes) {
    const s = sentence(r, rare && first);
    first = false;
    for (const word of s.split(' ')) {
      if (line.length + word.length + 1 > 76) {
        lines.push(line);
        size += line.length + 2;
        line = '';
      }
      line = line ? `${line} ${word}` : word;
    }
    if (r() < 0.15) { lines.push(line, ''); size += line.length + 4; line = ''; }
  }
  if (line) lines.push(line);
  return lines.join('\r\n');
}

function base64Lines(buf: Buffer): string {
  const b = buf.toString('base64');
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 76) out.push(b.slice(i, i + 76));
  return out.join('\r\n');
}

function binary(r: () => number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32LE(Math.floor(r() * 4294967296), Math.min(i, bytes - 4));
  return b;
}

function html(body: string): string {
  return `<html><head><meta charset="utf-8"></head><body>\r\n${body.split('\r\n\r\n').map((p) => `<p>${p}</p>`).join('\r\n')}\r\n</body></html>`;
}

export interface CorpusMessage { raw: Buffer; kind: string }

/**
 * Message number `i` (0-based) of the corpus for `recipient`. Size mix: about half small text
 * (1-8 KiB), a quarter text+HTML (8-40 KiB), 1 in 6 with an attachment (20-150 KiB), 1 in 16
 * nested multipart/mixed > alternative + related image + attachment (100-400 KiB), 1 in 100
 * large (0.5-1 MiB). Mean about 45 KiB.
 */
export function makeMessage(seed: number, i: number, recipient: string): CorpusMessage {
  const r = rng(seed * 1_000_003 + i * 7919 + 17);
  const from = pick(r, SENDERS);
  const rare = r() < 0.05;
  const date = new Date(Date.UTC(2024, 0, 1) + i * 3_600_000 + between(r, 0, 3_599_999));
  const subject = r() < 0.15 ? pick(r, ENCODED_SUBJECTS) : sentence(r, rare).slice(0, 70).replace(/\.$/, '');
  const boundary = (n: number) => `----=_bench_${i}_${n}_${Math.floor(r() * 1e9)}`;
  const x = r();
  const kind = x < 0.5 ? 'text' : x < 0.75 ? 'alternative' : x < 0.9175 ? 'attachment' : x < 0.99 ? 'nested' : 'large';
  const headers = [
    `Received: from mx.example.net (mx.example.net [192.0.2.${between(r, 1, 254)}]) by mail.bench.test with ESMTP id B${i}; ${date.toUTCString().replace('GMT', '+0000')}`,
    `From: ${NAMES[from]} <${from}>`,
    `To: <${recipient}>`,
    ...(r() < 0.3 ? [`Cc: ${pick(r, SENDERS)}`] : []),
    `Subject: ${subject}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <bench-${seed}-${i}@example.net>`,
    ...(r() < 0.3 && i > 0 ? [`In-Reply-To: <bench-${seed}-${i - 1}@example.net>`, `References: <bench-${seed}-${i - 1}@example.net>`] : []),
    'MIME-Version: 1.0',
  ];
  let body: string;
  if (kind === 'text') {
    const eightBit = r() < 0.2;
    const t = text(r, between(r, 800, 8000), rare) + (eightBit ? '\r\n\r\nСпасибо, до встречи. Grüße, à bientôt.' : '');
    headers.push(`Content-Type: text/plain; charset=${eightBit ? 'utf-8' : 'us-ascii'}; format=flowed`, `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}`);
    body = t;
  } else if (kind === 'alternative') {
    const t = text(r, between(r, 3000, 16000), rare);
    const b = boundary(1);
    headers.push(`Content-Type: multipart/alternative; boundary="${b}"`);
    body = [`--${b}`, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', t,
      `--${b}`, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 7bit', '', html(t), `--${b}--`, ''].join('\r\n');
  } else if (kind === 'attachment' || kind === 'large') {
    const t = text(r, between(r, 500, 4000), rare);
    const b = boundary(1);
    const size = kind === 'large' ? between(r, 380_000, 760_000) : between(r, 14_000, 110_000);
    const [name, type] = pick(r, [['report.pdf', 'application/pdf'], ['photo.jpg', 'image/jpeg'], ['data.xlsx',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'], ['archive.zip', 'application/zip']] as const);
    headers.push(`Content-Type: multipart/mixed; boundary="${b}"`);
    body = [`--${b}`, 'Content-Type: text/plain; charset=us-ascii', '', t,
      `--${b}`, `Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64', '', base64Lines(binary(r, size)), `--${b}--`, ''].join('\r\n');
  } else {
    const t = text(r, between(r, 2000, 10000), rare);
    const [b1, b2, b3] = [boundary(1), boundary(2), boundary(3)];
    headers.push(`Content-Type: multipart/mixed; boundary="${b1}"`);
    body = [
      'This is a multi-part message in MIME format.', `--${b1}`, `Content-Type: multipart/alternative; boundary="${b2}"`, '',
      `--${b2}`, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', `${t}\r\n\r\nС уважением`,
      `--${b2}`, `Content-Type: multipart/related; boundary="${b3}"`, '',
      `--${b3}`, 'Content-Type: text/html; charset=utf-8', '', html(t).replace('</body>', '<img src="cid:logo@bench"></body>'),
      `--${b3}`, 'Content-Type: image/png; name="logo.png"', 'Content-ID: <logo@bench>', 'Content-Transfer-Encoding: base64', '',
      base64Lines(binary(r, between(r, 5_000, 40_000))), `--${b3}--`, '', `--${b2}--`, '',
      `--${b1}`, 'Content-Type: application/octet-stream; name="=?UTF-8?Q?Pr=C3=A4sentation.bin?="',
      'Content-Disposition: attachment; filename*=utf-8\'\'Pr%C3%A4sentation.bin', 'Content-Transfer-Encoding: base64', '',
      base64Lines(binary(r, between(r, 60_000, 250_000))), `--${b1}--`, '',
    ].join('\r\n');
  }
  return { raw: Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8'), kind };
}

/** A small message (2-6 KiB) for the big mailbox and for APPEND. */
export function makeSmallMessage(seed: number, i: number, recipient: string): Buffer {
  const r = rng(seed * 7_000_003 + i * 104_729 + 5);
  const from = pick(r, SENDERS);
  const date = new Date(Date.UTC(2023, 0, 1) + i * 600_000);
  return Buffer.from([
    `From: ${NAMES[from]} <${from}>`, `To: <${recipient}>`, `Subject: ${sentence(r, r() < 0.05).slice(0, 60).replace(/\.$/, '')}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`, `Message-ID: <small-${seed}-${i}@example.net>`, 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii', '', text(r, between(r, 1500, 5500), false), '',
  ].join('\r\n'), 'utf8');
}
