import type { School, Staff } from '../contracts/roster';

/**
 * Who `issue-key` may issue a credential to: a school we know (it has a roster or saved settings)
 * and, for a teacher token, a staff member of that school's roster. A key for a mistyped ID would
 * only ever get 403, with nothing to say why.
 */

export interface KeyHolderLookups {
  getSchool(schoolId: string): Promise<School | null>;
  hasSettings(schoolId: string): Promise<boolean>;
  listStaff(schoolId: string): Promise<readonly Pick<Staff, 'id' | 'active'>[]>;
}

/** The reason to refuse, in words for the operator, or null when the holder exists. */
export async function keyHolderRefusal(args: {
  lookups: KeyHolderLookups;
  schoolId: string;
  staffId?: string;
}): Promise<string | null> {
  const { lookups, schoolId, staffId } = args;
  const school = await lookups.getSchool(schoolId);
  if (school === null && !(await lookups.hasSettings(schoolId))) {
    return `school "${schoolId}" is unknown: import its roster or save its settings first`;
  }
  if (staffId === undefined) return null;
  const staff = await lookups.listStaff(schoolId);
  const member = staff.find((s) => s.id === staffId);
  if (member === undefined) {
    return `staff member "${staffId}" is not in the roster of school "${schoolId}"`;
  }
  if (!member.active) return `staff member "${staffId}" is not active in the roster`;
  return null;
}
