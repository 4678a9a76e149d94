// Caps concurrent connections per key: per client IP for one listener (the listener itself caps
// the total), shared by SMTP, POP3 and IMAP; IMAP also keys one by account id.
export class ConnectionLimiter {
  private readonly perIp = new Map<string, number>();
  constructor(private readonly maxPerIp: number) {}

  /** Returns false when this IP already has its share; otherwise counts the connection. */
  acquire(ip: string): boolean {
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.maxPerIp) return false;
    this.perIp.set(ip, n + 1);
    return true;
  }

  release(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }
}
