// Modified UTF-7 mailbox names (RFC 3501 §5.1.3): "&" starts a base64 run of UTF-16 with ","
// for "/", "-" ends it, "&-" is a literal "&". Decoding is strict (RFC 9051 §5.1: a name that
// is not valid modified UTF-7 is refused), so every stored name has exactly one wire form.
// Pure: no I/O. With UTF8=ACCEPT enabled (RFC 6855) names travel as UTF-8 and this is skipped.

export class Mutf7Error extends Error {}

export function encodeMutf7(name: string): string {
  let out = '';
  let run = '';
  const flush = () => {
    if (!run) return;
    const b = Buffer.alloc(run.length * 2);
    for (let i = 0; i < run.length; i++) b.writeUInt16BE(run.charCodeAt(i), i * 2);
    out += '&' + b.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    run = '';
  };
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      run += ch;
    }
  }
  flush();
  return out;
}

const B64 = /^[A-Za-z0-9+,]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function decodeMutf7(text: string): string {
  let out = '';
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw new Mutf7Error('8-bit or control character in a modified UTF-7 name');
    if (text[i] !== '&') {
      out += text[i];
      i++;
      continue;
    }
    const end = text.indexOf('-', i + 1);
    if (end === -1) throw new Mutf7Error('unterminated "&" in mailbox name');
    const b64 = text.slice(i + 1, end);
    i = end + 1;
    if (!b64) {
      out += '&';
      continue;
    }
    if (!B64.test(b64) || b64.length % 4 === 1) throw new Mutf7Error('invalid base64 in mailbox name');
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2) throw new Mutf7Error('odd UTF-16 length in mailbox name');
    let run = '';
    for (let j = 0; j < bytes.length; j += 2) run += String.fromCharCode(bytes.readUInt16BE(j));
    // A run must not encode printable ASCII (it has one canonical form) and must be valid UTF-16.
    if (/[\x20-\x7e]/.test(run)) throw new Mutf7Error('needlessly encoded ASCII in mailbox name');
    if (LONE_SURROGATE.test(run)) throw new Mutf7Error('invalid UTF-16 in mailbox name');
    if (encodeMutf7(run) !== `&${b64}-`) throw new Mutf7Error('non-canonical modified UTF-7');
    out += run;
  }
  return out;
}
