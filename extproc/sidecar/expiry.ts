// Streams open longer than a fixed time, with one timer for all of them instead of one per
// stream (a timer per stream is a Timeout object, a timer-list insertion and a removal on every
// request). Every stream gets the same time, so deadlines come in the order streams open: a Map
// keeps that order, and the one timer waits only for the oldest stream still open.

export interface Expiring {
  expire(): void;
}

export class ExpiryQueue<T extends Expiring> {
  /** Open items and their deadlines (performance.now() ms), oldest first. */
  private readonly open = new Map<T, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number, private readonly now: () => number = () => performance.now()) {}

  add(item: T): void {
    this.open.set(item, this.now() + this.ms);
    if (!this.timer) this.arm(this.ms);
  }

  /** The item ended in time (or expired): it is no longer watched. */
  delete(item: T): void {
    this.open.delete(item); // the timer stays set; when it fires it waits for the next oldest
  }

  get size(): number { return this.open.size; }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.open.clear();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = this.now();
    try {
      for (const [item, deadline] of this.open) {
        if (deadline > now) break;
        this.open.delete(item);
        item.expire();
      }
    } finally {
      // Armed again for the oldest left, also when an expire() threw.
      for (const deadline of this.open.values()) {
        this.arm(Math.max(0, deadline - now));
        break;
      }
    }
  };

  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, Math.ceil(ms));
    this.timer.unref(); // a watched stream alone does not keep the process alive
  }
}
