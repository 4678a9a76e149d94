// Configuration (src/config/config.ts): defaults from the JSON schema, errors that name the key,
// and environment overrides.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyEnv, ConfigError, parseConfig } from '../../src/config/config.js';

describe('parseConfig', () => {
  test('an empty file gets every default', () => {
    const c = parseConfig('');
    assert.equal(c.hostname, 'localhost');
    assert.equal(c.logLevel, 'info');
    assert.deepEqual(c.database, { url: null, schema: null });
    assert.deepEqual(c.tls, { cert: 'tls/cert.pem', key: 'tls/key.pem' });
    assert.deepEqual(c.listeners.smtp, { port: 2525, host: '0.0.0.0', enabled: true });
    assert.deepEqual(c.listeners.submission, { port: 2587, host: '0.0.0.0', enabled: true });
    assert.equal(c.listeners.pop3s.port, 2995);
    assert.equal(c.listeners.http.port, 8080);
    assert.equal(c.limits.maxMessageSize, 52428800);
    assert.equal(c.limits.maxRecipients, 500);
    assert.equal(c.auth.allowPlaintextWithoutTls, false);
    assert.deepEqual(c.delivery.retryMinutes, [5, 10, 20, 40, 80, 160, 240]);
    assert.equal(c.delivery.queueLifetimeHours, 120);
    assert.equal(c.delivery.smarthost, null);
    assert.deepEqual(c.delivery.dnsServers, []);
    assert.equal(c.adminAddress, null);
  });

  test('given values are kept and partial sections are completed', () => {
    const c = parseConfig('hostname: mx.example.test\nlisteners:\n  smtp:\n    port: 25\nlimits:\n  maxRecipients: 10\n'
      + 'delivery:\n  smarthost:\n    host: relay.example.test\n');
    assert.equal(c.hostname, 'mx.example.test');
    assert.deepEqual(c.listeners.smtp, { port: 25, host: '0.0.0.0', enabled: true });
    assert.equal(c.listeners.pop3.port, 2110, 'other listeners keep their defaults');
    assert.equal(c.limits.maxRecipients, 10);
    assert.equal(c.limits.maxConnections, 1000);
    assert.deepEqual(c.delivery.smarthost, { host: 'relay.example.test', port: 587, secure: false });
  });

  test('an unknown key is refused, naming it', () => {
    assert.throws(() => parseConfig('hostnme: x\n'), (e: unknown) => e instanceof ConfigError && /additional properties 'hostnme'/.test(e.message));
    assert.throws(() => parseConfig('listeners:\n  smtp:\n    port: 25\n    prot: 1\n'),
      (e: unknown) => e instanceof ConfigError && /listeners\.smtp: .*'prot'/.test(e.message));
  });

  test('a bad value is refused, naming its key', () => {
    assert.throws(() => parseConfig('listeners:\n  smtp:\n    port: 70000\n'),
      (e: unknown) => e instanceof ConfigError && /listeners\.smtp\.port: must be <= 65535/.test(e.message));
    assert.throws(() => parseConfig('limits:\n  maxMessageSize: big\n'),
      (e: unknown) => e instanceof ConfigError && /limits\.maxMessageSize: must be integer/.test(e.message));
    assert.throws(() => parseConfig('logLevel: loud\n'),
      (e: unknown) => e instanceof ConfigError && /logLevel: .*\(trace, debug, info, warn, error, fatal, silent\)/.test(e.message));
    assert.throws(() => parseConfig('database:\n  schema: "Bad-Schema"\n'),
      (e: unknown) => e instanceof ConfigError && /database\.schema/.test(e.message));
    assert.throws(() => parseConfig('listeners:\n  smtp:\n    prot: 25\n'),
      (e: unknown) => e instanceof ConfigError && /listeners\.smtp: must NOT have additional properties 'prot'/.test(e.message));
  });

  test('the source file name prefixes every error; invalid YAML and non-mappings are refused', () => {
    assert.throws(() => parseConfig('bogus: 1', {}, '/etc/pochtamt.yaml'), /^Error: \/etc\/pochtamt\.yaml: /);
    assert.throws(() => parseConfig('a: [1, 2', {}), (e: unknown) => e instanceof ConfigError && /not valid YAML/.test(e.message));
    assert.throws(() => parseConfig('- 1\n- 2\n'), (e: unknown) => e instanceof ConfigError && /must be a mapping/.test(e.message));
    assert.throws(() => parseConfig('just a string'), ConfigError);
  });

  test('POCHTAMT_LISTENERS__SMTP__PORT overrides the file, typed as a number', () => {
    const c = parseConfig('listeners:\n  smtp:\n    port: 2525\n', { POCHTAMT_LISTENERS__SMTP__PORT: '25' });
    assert.equal(c.listeners.smtp.port, 25);
    assert.equal(c.listeners.smtp.host, '0.0.0.0');
  });

  test('other POCHTAMT_ overrides: camelCase keys, booleans, lists; POCHTAMT_DATA is not config', () => {
    const c = parseConfig('', {
      POCHTAMT_HOSTNAME: 'env.example.test',
      POCHTAMT_LIMITS__MAX_RECIPIENTS: '7',
      POCHTAMT_AUTH__ALLOW_PLAINTEXT_WITHOUT_TLS: 'true',
      POCHTAMT_LISTENERS__POP3__ENABLED: 'false',
      POCHTAMT_LISTENERS__POP3__PORT: '110',
      POCHTAMT_DELIVERY__RETRY_MINUTES: '[1, 2]',
      POCHTAMT_DATA: '/var/lib/pochtamt',
      OTHER_VAR: 'ignored',
    });
    assert.equal(c.hostname, 'env.example.test');
    assert.equal(c.limits.maxRecipients, 7);
    assert.equal(c.auth.allowPlaintextWithoutTls, true);
    assert.equal(c.listeners.pop3.enabled, false);
    assert.equal(c.listeners.pop3.port, 110);
    assert.deepEqual(c.delivery.retryMinutes, [1, 2]);
  });

  // The override creates listeners.pop3 = { enabled: false }; the listener keeps its default port.
  test('POCHTAMT_LISTENERS__POP3__ENABLED=false alone turns the listener off', () => {
      const c = parseConfig('', { POCHTAMT_LISTENERS__POP3__ENABLED: 'false' });
      assert.equal(c.listeners.pop3.enabled, false);
      assert.equal(c.listeners.pop3.port, 2110);
    });

  test('an override of an unknown key is refused like the file would be', () => {
    assert.throws(() => parseConfig('', { POCHTAMT_LISTENERS__SMTPP__PORT: '25' }),
      (e: unknown) => e instanceof ConfigError && /'smtpp'/.test(e.message));
  });

  test('DATABASE_URL sets database.url and keeps database.schema', () => {
    const c = parseConfig('database:\n  schema: tenant_a\n', { DATABASE_URL: 'postgres://u@db.example.test/mail' });
    assert.deepEqual(c.database, { url: 'postgres://u@db.example.test/mail', schema: 'tenant_a' });
    assert.equal(parseConfig('', {}).database.url, null);
  });

  test('applyEnv does not touch the process environment by default', () => {
    const raw: Record<string, unknown> = {};
    applyEnv(raw, {});
    assert.deepEqual(raw, {});
  });
});
