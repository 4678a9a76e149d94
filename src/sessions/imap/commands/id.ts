// ID (RFC 2971): logs what the client says about itself (bounded) and names the server.
import { atom, str } from '../../../protocols/imap/response.js';
import { bad, ok, type CommandHandler } from '../types.js';

export const id: CommandHandler = async (s, _req, args) => {
  const t = args.peek();
  const client: Record<string, string> = {};
  if (t && t.kind === 'list') {
    const l = args.list();
    if (l.remaining > 60) return bad('Too many ID fields');
    while (l.remaining >= 2) {
      const k = l.astring('field name').slice(0, 30);
      const v = l.peekAtom() === 'NIL' ? (l.atom(), '') : l.astring('field value').slice(0, 1024);
      client[k] = v;
    }
  } else {
    const a = args.atom('ID parameter list');
    if (a.toUpperCase() !== 'NIL') return bad('Expected NIL or a list');
  }
  args.end();
  s.log.info({ event: 'imap.client.id', ip: s.remoteAddress, client }, 'client id');
  s.untagged(atom('ID'), [str('name'), str('Pochtamt'), str('vendor'), str('Pochtamt'), str('support-url'), str('https://pochtamt.org')]);
  return ok('ID completed');
};
