// A route's retry budget as this worker sees it: requests and retries in two half-window
// buckets; retries are over budget at max(minRetries, percent of the requests).

import { RetrySpec } from "../policy/model";

export class RetryBudget {
  private epoch: i64 = 0;
  private requests: StaticArray<u32> = new StaticArray<u32>(2);
  private retries: StaticArray<u32> = new StaticArray<u32>(2);

  constructor(private spec: RetrySpec | null) {}

  /** Are retries over budget in the last window? (Never, without a budget.) */
  exhausted(nowMs: i64, windowMs: f64): bool {
    const retry = this.spec;
    if (retry === null || retry.budgetPercent <= 0) return false;
    this.rotate(nowMs, windowMs);
    const requests = <f64>(this.requests[0] + this.requests[1]);
    const retries = <f64>(this.retries[0] + this.retries[1]);
    return retries >= max<f64>(<f64>retry.budgetMinRetries, requests * retry.budgetPercent / 100);
  }

  /** Counts one request that took `attempts` attempts. */
  note(attempts: i64, nowMs: i64, windowMs: f64): void {
    this.rotate(nowMs, windowMs);
    const b = <i32>(this.epoch & 1);
    this.requests[b]++;
    if (attempts > 1) this.retries[b] += <u32>(attempts - 1);
  }

  private rotate(nowMs: i64, windowMs: f64): void {
    const half = max<i64>(1, <i64>(windowMs / 2));
    const epoch = nowMs / half;
    if (epoch == this.epoch) return;
    const steps = epoch - this.epoch;
    for (let s: i64 = 1; s <= min<i64>(steps, 2); s++) {
      const b = <i32>((this.epoch + s) & 1);
      this.requests[b] = 0;
      this.retries[b] = 0;
    }
    this.epoch = epoch;
  }
}
