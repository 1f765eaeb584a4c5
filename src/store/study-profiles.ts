import type { Db } from 'mongodb';
import { z } from 'zod';

import {
  personKinds,
  studyProfileSchema,
  type PersonKind,
  type StudyProfile,
} from '../contracts/roster';

/**
 * Study profiles from VK ID links (P1). Personal data: kept only while the person is linked and
 * deleted on unlink (P2); nothing outside MongoDB ever sees it.
 */

export const STUDY_PROFILES = 'study_profiles';

const studyProfileDocSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  personKind: z.enum(personKinds),
  personId: z.string(),
  vkId: z.number().int().positive(),
  profile: studyProfileSchema,
  linkedAt: z.date(),
});

export type StoredStudyProfile = Omit<z.infer<typeof studyProfileDocSchema>, '_id'>;

interface PersonRef {
  readonly schoolId: string;
  readonly personKind: PersonKind;
  readonly personId: string;
}

const docId = ({ schoolId, personKind, personId }: PersonRef): string =>
  `${schoolId}:${personKind}:${personId}`;

export async function ensureStudyProfileIndexes(db: Db): Promise<void> {
  await db
    .collection(STUDY_PROFILES)
    .createIndex({ schoolId: 1, vkId: 1 }, { name: 'school_vk' }, {});
}

export async function saveStudyProfile(
  db: Db,
  args: PersonRef & { vkId: number; profile: StudyProfile; linkedAt: Date },
): Promise<void> {
  const { schoolId, personKind, personId, vkId, profile, linkedAt } = args;
  await db
    .collection<{ _id: string }>(STUDY_PROFILES)
    .replaceOne(
      { _id: docId(args) },
      { schoolId, personKind, personId, vkId, profile, linkedAt },
      { upsert: true },
    );
}

export async function deleteStudyProfile(db: Db, ref: PersonRef): Promise<boolean> {
  const result = await db
    .collection<{ _id: string }>(STUDY_PROFILES)
    .deleteOne({ _id: docId(ref) });
  return result.deletedCount > 0;
}

export async function getStudyProfile(db: Db, ref: PersonRef): Promise<StoredStudyProfile | null> {
  const doc = await db.collection<{ _id: string }>(STUDY_PROFILES).findOne({ _id: docId(ref) });
  if (!doc) return null;
  const { schoolId, personKind, personId, vkId, profile, linkedAt } =
    studyProfileDocSchema.parse(doc);
  return { schoolId, personKind, personId, vkId, profile, linkedAt };
}
