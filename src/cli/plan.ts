import { createSyncActivities } from '../../activities/sync';
import type { App } from '../process/app';
import { createRosterStore } from '../store/roster-store';
import type { SyncStore } from '../store/sync-store';

/**
 * `sferum-sync plan <school>`: computes and stores a plan exactly as a sync run would, and prints
 * it. It never touches the messenger.
 */
export async function printPlan(args: {
  app: App;
  sync: SyncStore;
  schoolId: string;
  json: boolean;
}): Promise<void> {
  const { app, sync, schoolId } = args;
  const activities = createSyncActivities({
    logger: app.logger,
    roster: createRosterStore({ db: app.db }),
    settings: app.settings,
    sync,
    messengers: app.messengers,
    gateway: app.gateway,
  });
  const result = await activities.planSync({
    schoolId,
    runId: `cli-plan-${Date.now()}`,
    approvedPlanId: null,
  });
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  if (result.status !== 'ready' && result.status !== 'held') {
    out(
      `school ${schoolId}: ${result.status === 'disabled' ? 'sync is disabled' : 'no settings or roster yet'}`,
    );
    return;
  }
  // A held plan is shown whole: the part the guard lets through is only what a run would apply now.
  const planId = result.held?.planId ?? result.planId;
  const plan = await sync.getPlan(schoolId, planId);
  if (!plan) throw new Error(`plan ${planId} vanished`);
  if (args.json) {
    out(JSON.stringify({ ...plan, held: result.held }, null, 2));
    return;
  }
  const skippedByChat = new Map<string, number>();
  for (const s of plan.skipped)
    skippedByChat.set(s.chatKey, (skippedByChat.get(s.chatKey) ?? 0) + 1);
  out(
    `plan ${plan._id} for school ${schoolId}: ${plan.chats.length} chats, status ${result.status}`,
  );
  if (result.held) {
    out(
      `HELD (${result.held.reason}): ${result.held.removals} of ${result.held.managedMembers} managed members would be removed, ` +
        `${result.held.chatsRemoved} chats retired. Approve with POST /schools/${schoolId}/plans/${plan._id}/approve`,
    );
  }
  const rows = plan.chats.map((c) => [
    c.retire ? 'retire' : c.expected.create ? 'create' : 'keep',
    c.title,
    String(c.members.length),
    String(c.admins.length),
    `+${c.expected.add}`,
    `-${c.expected.remove}`,
    String(skippedByChat.get(c.key) ?? 0),
  ]);
  const header = ['action', 'chat', 'members', 'admins', 'add', 'remove', 'no VK ID'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  out(line(header));
  for (const row of rows) out(line(row));
}
