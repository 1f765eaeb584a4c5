import type { Db } from 'mongodb';

export interface HelloActivities {
  recordHello(args: { name: string }): Promise<{ greeting: string; stored: boolean }>;
}

export function createHelloActivities({ db }: { db: Db }): HelloActivities {
  return {
    async recordHello({ name }) {
      const greeting = `Hello, ${name}!`;
      const result = await db
        .collection<{ _id: string; greeting: string; at: Date }>('hello')
        .updateOne({ _id: name }, { $set: { greeting, at: new Date() } }, { upsert: true });
      return { greeting, stored: result.acknowledged };
    },
  };
}
