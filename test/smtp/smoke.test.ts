import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodemailer from 'nodemailer';
import { ADMIN, startInstance, type TestInstance } from '../helpers/instance.js';

let inst: TestInstance;
before(async () => { inst = await startInstance(); });
after(async () => { await inst.stop(); });

test('a message sent to the MX lands in the admin INBOX', async () => {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, ignoreTLS: true });
  const info = await t.sendMail({ from: 'someone@remote.test', to: ADMIN, subject: 'hello', text: 'body' });
  assert.match(info.response, /^250 2\.6\.0 Ok: queued as /);
  const acc = await inst.app.accounts.getAccount(ADMIN);
  const inbox = await inst.app.mailStore.inbox(acc!.id);
  const msgs = await inst.app.mailStore.listMessages(inbox.id);
  assert.equal(msgs.length, 1);
  const bytes = await inst.app.mailStore.getMessageBytes(msgs[0]!.blobHash);
  assert.match(bytes.toString(), /^Return-Path: <someone@remote\.test>\r\nReceived: from /);
});
