// COMPRESS (RFC 4978): the tagged OK is the last uncompressed response; the session then runs
// both directions through raw DEFLATE (session.startCompression). Refused while it is already
// on; only after login (before it, a compressed stream would hide a password guesser's traffic
// from nothing, and RFC 4978 §3 lets the server choose).
import { bad, no, ok, type CommandHandler } from '../types.js';

export const compress: CommandHandler = async (s, _req, args) => {
  const mechanism = args.atom('compression mechanism').toUpperCase();
  args.end();
  if (mechanism !== 'DEFLATE') return bad(`Unknown compression mechanism ${mechanism.slice(0, 32)}`);
  if (s.compressed) return no('DEFLATE active', 'COMPRESSIONACTIVE');
  return { ...ok('DEFLATE active'), after: 'compress' };
};
