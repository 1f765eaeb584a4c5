import { patched, upsertMemo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

/**
 * Build 2 of the rolling-upgrade drill: a real change to what every workflow records, behind
 * `patched()` as a production change must be. Before each activity it schedules live, a build-2
 * workflow writes the patch marker and a memo; replaying build 1's histories it finds no marker
 * and does neither, so the histories of both builds replay on build 2's code.
 */
export const BUILD_2_PATCH = 'drill-build-2-memo';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        if (patched(BUILD_2_PATCH)) upsertMemo({ drillBuild: 2 });
        return next(input);
      },
    },
  ],
});
