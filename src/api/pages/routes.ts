import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { ZodApp } from '../context';
import { errorReplies } from '../errors';
import { journalParams, schoolParams } from '../schemas';
import { journalPage } from './journal-page';
import { schoolPage } from './school-page';

/**
 * Only this response's inline script and style may run, and the page may talk to this origin
 * only; `no-referrer` keeps a `?token=`/`?key=` URL out of the Referer of the join link.
 */
function sendPage(reply: FastifyReply, render: (nonce: string) => string): void {
  const nonce = randomBytes(16).toString('base64');
  void reply
    .header(
      'content-security-policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; ` +
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    )
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .type('text/html; charset=utf-8')
    .send(render(nonce));
}

export function registerPageRoutes(app: ZodApp): void {
  app.get(
    '/journals/:id/page',
    {
      schema: {
        tags: ['pages'],
        summary: 'The journal page (HTML): lessons, video lesson buttons, next automatic action',
        description:
          'Open with `?token=<teacher token>` once; the page keeps it in sessionStorage.',
        params: journalParams,
        response: errorReplies(400),
      },
    },
    (request, reply) => {
      sendPage(reply, (nonce) => journalPage({ journalId: request.params.id, nonce }));
    },
  );

  app.get(
    '/schools/:id/page',
    {
      schema: {
        tags: ['pages'],
        summary: 'The school admin page (HTML): last sync, held plan, people without a VK ID',
        description:
          'Open with `?key=<admin key>` (or `?token=`) once; the page keeps it in sessionStorage.',
        params: schoolParams,
        response: errorReplies(400),
      },
    },
    (request, reply) => {
      sendPage(reply, (nonce) => schoolPage({ schoolId: request.params.id, nonce }));
    },
  );
}
