/**
 * Claims of the platform's request slots shared by every process of a deployment
 * (src/messenger/cluster-limiter.ts uses them, src/store/rate-slots.ts keeps them). `claim` must
 * be atomic across processes: it succeeds for exactly one caller per (key, bucket).
 */
export interface RateSlots {
  claim(args: {
    readonly key: string;
    readonly bucket: number;
    readonly at: Date;
  }): Promise<boolean>;
}
