// STUB — replaced by the outbound delivery implementation.
import type { App } from '../instance/app.js';
export class OutboundWorker {
  constructor(_app: App) {}
  start(): void {}
  async stop(): Promise<void> {}
}
