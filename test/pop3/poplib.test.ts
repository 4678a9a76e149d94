// Interop: Debian's Python poplib (a real, widely used POP3 client) against a real instance,
// over STLS on the pop3 port and implicit TLS on pop3s. Retrieved messages must be
// byte-identical to the stored blobs; DELE+QUIT removes, DELE without QUIT does not.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { newQueueId } from '../../src/services/trace.service.js';
import { startInstance, TEST_DOMAIN, type TestInstance } from '../helpers/instance.js';

const PYTHON = '/usr/bin/python3'; // Debian's python, not a pyenv one on PATH
const USER = `pop@${TEST_DOMAIN}`;
const PASSWORD = 'pop-pass-1';

// Runs one session with poplib and prints what it saw as JSON. Lines from retr() come back
// un-stuffed and without CRLF; joining them with CRLF plus a final CRLF rebuilds the octets.
const SCRIPT = String.raw`
import hashlib, json, poplib, ssl, sys
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if a["mode"] == "stls":
    p = poplib.POP3("127.0.0.1", a["port"], timeout=20)
    caps_before = sorted(p.capa().keys())
    p.stls(context=ctx)
else:
    p = poplib.POP3_SSL("127.0.0.1", a["port"], context=ctx, timeout=20)
    caps_before = None
out = {"caps_before": caps_before, "caps": sorted(p.capa().keys())}
p.user(a["user"])
p.pass_(a["password"])
count, size = p.stat()
out["stat"] = [count, size]
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["retr"] = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    data = b"\r\n".join(lines) + b"\r\n"
    out["retr"].append({"resp": resp.decode(), "octets": octets, "len": len(data), "sha256": hashlib.sha256(data).hexdigest()})
if count:
    resp, lines, octets = p.top(1, 1)
    out["top"] = [l.decode("utf-8", "replace") for l in lines]
for n in a.get("dele", []):
    out.setdefault("dele", []).append(p.dele(n).decode())
if a.get("quit", True):
    out["quit"] = p.quit().decode()
else:
    p.sock.close()  # drop the connection without QUIT
print(json.dumps(out))
`;

interface PopOut {
  caps_before: string[] | null; caps: string[]; stat: [number, number]; list: string[]; uidl: string[];
  retr: Array<{ resp: string; octets: number; len: number; sha256: string }>; top?: string[]; dele?: string[]; quit?: string;
}

async function poplib(args: { mode: 'stls' | 'ssl'; port: number; dele?: number[]; quit?: boolean }): Promise<PopOut> {
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', SCRIPT, JSON.stringify({ user: USER, password: PASSWORD, ...args })],
    { timeout: 60_000 });
  return JSON.parse(stdout) as PopOut;
}

let inst: TestInstance;
before(async () => {
  inst = await startInstance();
  await inst.app.accounts.addAccount({ address: USER, password: PASSWORD });
});
after(async () => { await inst.stop(); });

async function inbox() {
  const acc = await inst.app.accounts.getAccount(USER);
  const box = await inst.app.mailStore.inbox(acc!.id);
  const msgs = await inst.app.mailStore.listMessages(box.id);
  const blobs = await Promise.all(msgs.map((m) => inst.app.mailStore.getMessageBytes(m.blobHash)));
  return { box, msgs, blobs };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('poplib over STLS and POP3_SSL: STAT, LIST, UIDL, RETR byte-identical, TOP; DELE+QUIT removes, a drop does not',
  { skip: !existsSync(PYTHON) && `${PYTHON} not installed` }, async () => {
    // One message through the MX, two straight into delivery (one with dot-leading lines and UTF-8).
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, ignoreTLS: true });
    await t.sendMail({ from: 'someone@remote.test', to: USER, subject: 'via smtp', text: 'hello\n.dot line\n..two\nend' });
    await inst.app.delivery.deliver({ queueId: newQueueId(), sender: 'x@remote.test', recipients: [USER],
      raw: Buffer.from('Subject: dots\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n.\r\n.hidden\r\nПривет\r\n') });
    await inst.app.delivery.deliver({ queueId: newQueueId(), sender: 'x@remote.test', recipients: [USER],
      raw: Buffer.from(`Subject: big\r\n\r\n${'0123456789abcdef'.repeat(4).concat('\r\n').repeat(2000)}`) });
    const { box, msgs, blobs } = await inbox();
    assert.equal(msgs.length, 3);

    for (const [mode, port] of [['stls', inst.ports.pop3!], ['ssl', inst.ports.pop3s!]] as const) {
      const out = await poplib({ mode, port });
      if (mode === 'stls') {
        assert.ok(out.caps_before!.includes('STLS'));
        assert.ok(!out.caps_before!.includes('USER'));
        assert.ok(out.caps.includes('USER'));
      }
      assert.deepEqual(out.stat, [3, msgs.reduce((s, m) => s + m.size, 0)]);
      assert.deepEqual(out.list, msgs.map((m, i) => `${i + 1} ${m.size}`));
      assert.deepEqual(out.uidl, msgs.map((m, i) => `${i + 1} ${box.uidValidity}.${m.uid}`));
      out.retr.forEach((r, i) => {
        assert.equal(r.resp, `+OK ${msgs[i]!.size} octets`);
        assert.equal(r.len, blobs[i]!.length);
        assert.equal(r.sha256, sha(blobs[i]!), `message ${i + 1} differs from the stored blob (${mode})`);
      });
      // TOP 1 1: the header of message 1 and its first body line.
      const head = blobs[0]!.toString('utf8').split('\r\n\r\n')[0]!.split('\r\n');
      assert.deepEqual(out.top, [...head, '', 'hello']);
      assert.match(out.quit!, /^\+OK/);
    }

    // DELE without QUIT: nothing removed.
    const dropped = await poplib({ mode: 'ssl', port: inst.ports.pop3s!, dele: [1, 2], quit: false });
    assert.deepEqual(dropped.dele!.map((d) => d.slice(0, 3)), ['+OK', '+OK']);
    assert.equal(dropped.quit, undefined);
    await new Promise((r) => setTimeout(r, 200)); // let the server see the close and release the lock
    assert.equal((await inbox()).msgs.length, 3);

    // DELE + QUIT: removed from the store.
    const quitted = await poplib({ mode: 'stls', port: inst.ports.pop3!, dele: [2] });
    assert.match(quitted.quit!, /^\+OK .*\(2 messages left\)/);
    const now = await inbox();
    assert.deepEqual(now.msgs.map((m) => m.uid), [msgs[0]!.uid, msgs[2]!.uid]);
    assert.ok(!(await inst.app.mailStore.getMessage(box.id, msgs[1]!.uid)));
  });
