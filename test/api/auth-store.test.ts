import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { createAuthStore, issueAdminKey, issueTeacherToken } from '../../src/store/auth-store';
import { connectMongo } from '../../src/store/db';
import { mongoServer } from './support';

const mongo = mongoServer();
before(() => mongo.start());
after(() => mongo.stop());

void it('credentials are stored hashed, name their holder, and issuing again rotates them', async () => {
  const { client, db } = await connectMongo(
    mongo.uri,
    `test_auth_${randomBytes(5).toString('hex')}`,
  );
  try {
    const auth = createAuthStore({ db });
    await auth.ensureIndexes();
    const admin = await issueAdminKey({ db, schoolId: 'sch-1' });
    const teacher = await issueTeacherToken({ db, schoolId: 'sch-1', staffId: 't-1' });
    assert.match(admin.secret, /^sfa\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.match(teacher.secret, /^sft\./);

    const stored = JSON.stringify(await db.collection('api_credentials').find({}).toArray());
    for (const secret of [admin.secret, teacher.secret]) {
      assert.ok(!stored.includes(secret.split('.')[2] ?? '-'), 'the secret part is never stored');
    }

    assert.deepEqual(await auth.authenticate(admin.secret), {
      kind: 'admin',
      schoolId: 'sch-1',
      keyId: admin.keyId,
    });
    assert.deepEqual(await auth.authenticate(teacher.secret), {
      kind: 'teacher',
      schoolId: 'sch-1',
      staffId: 't-1',
      keyId: teacher.keyId,
    });
    // The same key ID and secret under the other kind's prefix is refused.
    assert.equal(await auth.authenticate(teacher.secret.replace(/^sft/, 'sfa')), null);

    const rotated = await issueTeacherToken({ db, schoolId: 'sch-1', staffId: 't-1' });
    assert.equal(await auth.authenticate(teacher.secret), null, 'the old token stops working');
    assert.notEqual(await auth.authenticate(rotated.secret), null);
    assert.notEqual(
      await auth.authenticate(admin.secret),
      null,
      'rotation touches only that holder',
    );
    await db.dropDatabase();
  } finally {
    await client.close();
  }
});
