// Real Debian clients against a running instance: python3-caldav 0.11 (discovery, create a
// calendar, PUT, time-range query with expansion, sync, delete) and the litmus WebDAV suite
// (groups basic, copymove, props) against a plain collection in the files home. Each is skipped,
// with the reason, when its Debian package is missing (.ci/run installs python3-caldav litmus).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ALICE, BOB, PASSWORDS, REPO, debianTool, pythonHasCaldav, startDav, type DavEnv } from './helpers.js';

let env: DavEnv;
before(async () => { env = await startDav(); });
after(async () => { await env.stop(); });

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const caldavReason = pythonHasCaldav() ? false : 'Debian package python3-caldav is not installed (/usr/bin/python3 cannot import caldav)';

test('python3-caldav: discovery, create calendar, PUT, query, sync, delete', { skip: caldavReason }, async () => {
  const script = path.join(REPO, 'test', 'dav', 'clients', 'caldav_client.py');
  const r = await run('/usr/bin/python3', [script, env.base, BOB, PASSWORDS[BOB]!], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.out);
  const res = JSON.parse(r.out.trim().split('\n').pop()!) as Record<string, unknown>;
  assert.equal(res.principal, `${env.base}/dav/principals/users/${BOB}/`);
  assert.deepEqual(res.calendars, ['Calendar', 'Tasks']);
  assert.match(String(res.created), /\/dav\/calendars\/bob(%40|@)example\.test\/pytest\/$/);
  // 09:00 New York on 2025-03-08 (EST, 14:00Z) and 2025-03-15 (EDT, 13:00Z)
  assert.deepEqual(res.expanded_starts, ['20250308T140000Z', '20250315T130000Z']);
  assert.equal(res.outside, 0);
  assert.equal(res.initial_sync, 1);
  assert.equal((res.sync_changes as string[]).length, 2);
  assert.equal(res.events_after_delete, 1);
  assert.deepEqual(res.calendars_after, ['Calendar', 'Tasks']);
});

const litmus = debianTool('/usr/bin/litmus');

test('litmus basic, copymove and props against a plain collection', { skip: litmus ? false : 'Debian package litmus is not installed', timeout: 240_000 }, async () => {
  const mk = await env.req('MKCOL', `/dav/files/${ALICE}/litmus-root/`);
  assert.equal(mk.status, 201);
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-litmus-'));
  try {
    const r = await run(litmus!, ['-k', `${env.base}/dav/files/${ALICE}/litmus-root/`, ALICE, PASSWORDS[ALICE]!], {
      cwd, env: { ...process.env, TESTS: 'basic copymove props' }, timeoutMs: 200_000,
    });
    const summaries = [...r.out.matchAll(/summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)]
      .map((m) => ({ group: m[1], run: Number(m[2]), passed: Number(m[3]), failed: Number(m[4]) }));
    const failures = r.out.split('\n').filter((l) => /FAIL/.test(l));
    assert.deepEqual(summaries.map((s) => s.group), ['basic', 'copymove', 'props'], r.out);
    assert.deepEqual(failures, [], r.out);
    for (const s of summaries) assert.equal(s.failed, 0, `${s.group}: ${r.out}`);
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
});
