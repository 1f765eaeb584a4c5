import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from 'mongodb';

/**
 * API credentials: one admin key per school, one token per teacher (staff ID) per school, and
 * one portal key per school (the city portal reads the school's e-diary feed with it, nothing else).
 *
 * A credential reads `<prefix>.<keyId>.<secret>`. The key ID is public and only finds the record;
 * the secret is 32 random bytes and is stored as its SHA-256 (it is high-entropy, so a slow
 * password hash would add nothing) and compared in constant time. The plain credential exists
 * only in the return value of the issue functions.
 */

const COLLECTION = 'api_credentials';

export type CredentialKind = 'admin' | 'teacher' | 'portal';

const PREFIX: Record<CredentialKind, string> = { admin: 'sfa', teacher: 'sft', portal: 'sfp' };

interface CredentialDoc {
  _id: string;
  kind: CredentialKind;
  schoolId: string;
  /** Only on teacher tokens. */
  staffId: string | null;
  hash: string;
  createdAt: Date;
}

/** Who a valid credential belongs to. Contains IDs only. */
export type Principal =
  | { readonly kind: 'admin'; readonly schoolId: string; readonly keyId: string }
  | { readonly kind: 'portal'; readonly schoolId: string; readonly keyId: string }
  | {
      readonly kind: 'teacher';
      readonly schoolId: string;
      readonly staffId: string;
      readonly keyId: string;
    };

export interface IssuedCredential {
  /** The plain credential: show it once, never store or log it. */
  readonly secret: string;
  readonly keyId: string;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function collection(db: Db) {
  return db.collection<CredentialDoc>(COLLECTION);
}

async function issue(
  db: Db,
  kind: CredentialKind,
  schoolId: string,
  staffId: string | null,
): Promise<IssuedCredential> {
  const keyId = randomBytes(8).toString('hex');
  const secretPart = randomBytes(32).toString('base64url');
  const doc: CredentialDoc = {
    _id: keyId,
    kind,
    schoolId,
    staffId,
    hash: sha256(secretPart).toString('hex'),
    createdAt: new Date(),
  };
  await collection(db).insertOne(doc);
  // Issuing rotates: the earlier credential of the same holder stops working. The new one is
  // written first so a crash in between leaves the holder with a key rather than none.
  await collection(db).deleteMany({ kind, schoolId, staffId, _id: { $ne: keyId } });
  return { secret: `${PREFIX[kind]}.${keyId}.${secretPart}`, keyId };
}

/** Issues (and rotates) a school's admin key. Returns the plain key once. */
export function issueAdminKey({
  db,
  schoolId,
}: {
  db: Db;
  schoolId: string;
}): Promise<IssuedCredential> {
  return issue(db, 'admin', schoolId, null);
}

/** Issues (and rotates) the key the city portal reads the school's e-diary feed with. */
export function issuePortalKey({
  db,
  schoolId,
}: {
  db: Db;
  schoolId: string;
}): Promise<IssuedCredential> {
  return issue(db, 'portal', schoolId, null);
}

/** Issues (and rotates) a teacher's token, bound to the staff ID and school. Returns it once. */
export function issueTeacherToken({
  db,
  schoolId,
  staffId,
}: {
  db: Db;
  schoolId: string;
  staffId: string;
}): Promise<IssuedCredential> {
  return issue(db, 'teacher', schoolId, staffId);
}

const CREDENTIAL_PATTERN = /^(sfa|sft|sfp)\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

/** Compared against when the key ID is unknown, so a miss costs the same as a wrong secret. */
const DUMMY_HASH = sha256('no such credential');

export interface AuthStore {
  /** The principal of a valid credential, or null. Never says which part was wrong. */
  authenticate(credential: string): Promise<Principal | null>;
  ensureIndexes(): Promise<void>;
}

export function createAuthStore({ db }: { db: Db }): AuthStore {
  return {
    async authenticate(credential) {
      const match = CREDENTIAL_PATTERN.exec(credential);
      if (!match) return null;
      const [, prefix, keyId, secretPart] = match as unknown as [string, string, string, string];
      const doc = await collection(db).findOne({ _id: keyId });
      const presented = sha256(secretPart);
      const stored = doc ? Buffer.from(doc.hash, 'hex') : DUMMY_HASH;
      const equal = stored.length === presented.length && timingSafeEqual(stored, presented);
      if (!doc || !equal || PREFIX[doc.kind] !== prefix) return null;
      if (doc.kind === 'admin' || doc.kind === 'portal') {
        return { kind: doc.kind, schoolId: doc.schoolId, keyId };
      }
      if (doc.staffId === null) return null;
      return { kind: 'teacher', schoolId: doc.schoolId, staffId: doc.staffId, keyId };
    },

    async ensureIndexes() {
      await collection(db).createIndex({ kind: 1, schoolId: 1, staffId: 1 });
    },
  };
}
