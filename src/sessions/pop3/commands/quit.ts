// QUIT (RFC 1939 §6 and §4). In AUTHORIZATION it just closes. In TRANSACTION it enters UPDATE:
// the messages marked by DELE are expunged from the store, and only then the reply is sent
// and the lock released. A connection that drops without QUIT deletes nothing.
import type { Pop3CommandSpec } from '../types.js';

export const quit: Pop3CommandSpec = {
  name: 'QUIT',
  states: ['AUTHORIZATION', 'TRANSACTION'],
  minArgs: 0,
  maxArgs: 0,
  async handle(ctx) {
    const md = ctx.maildrop;
    if (ctx.state !== 'TRANSACTION' || !md) return { kind: 'ok', text: 'Pochtamt POP3 server signing off', after: 'close' };
    ctx.state = 'UPDATE';
    const uids = md.deletedUids();
    const { mailStore, log, locks } = ctx.deps;
    try {
      const removed = uids.length ? await mailStore.expunge(md.accountId, md.mailboxId, uids) : [];
      const left = md.stat().count;
      log.info({ event: 'pop3.update.done', user: ctx.user, deleted: removed.length, marked: uids.length }, 'update');
      return { kind: 'ok', text: `Pochtamt POP3 server signing off (${left} messages left)`, after: 'close' };
    } catch (e) {
      log.error({ event: 'pop3.update.failed', user: ctx.user, err: (e as Error).message }, 'expunge at QUIT failed');
      return { kind: 'err', code: 'SYS/TEMP', text: 'Some deleted messages were not removed', after: 'close' };
    } finally {
      locks.release(md.accountId);
    }
  },
};
