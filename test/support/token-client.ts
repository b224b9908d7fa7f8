import { decodeJwt } from 'jose';
import { basic, type TestForgegate } from './forgegate.js';

// Asking a test forgegate for tokens, GET and POST, with the JWT's access claim decoded.
// Every Basic credential sent is recorded, so a suite can grep its logs for all of them.

export type Grant = { type: string; name: string; actions: string[] };

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  /** The JWT's access claim on a 200; undefined otherwise. */
  access: Grant[] | undefined;
  ms: number;
}

export const repo = (name: string, actions = 'pull,push,delete'): string => `repository:${name}:${actions}`;
export const granted = (name: string, ...actions: string[]): Grant[] => [{ type: 'repository', name, actions }];

export function tokenClient(service: string, defaultTarget: () => TestForgegate) {
  const sentBasic = new Set<string>();

  /** GET /token with Basic user:password (user null: anonymous), one or more scopes. */
  async function token(
    user: string | null,
    password: string | null,
    scope: string | string[] = [],
    on: TestForgegate = defaultTarget(),
    extraQuery = '',
  ): Promise<Answer> {
    const query = new URLSearchParams({ service });
    for (const s of [scope].flat()) query.append('scope', s);
    const headers: Record<string, string> = {};
    if (user !== null) headers.Authorization = basic(user, password ?? '');
    if (headers.Authorization) sentBasic.add(headers.Authorization.slice('Basic '.length));
    const started = Date.now();
    const response = await fetch(`${on.url}/token?${query}${extraQuery}`, { headers });
    const body = (await response.json()) as any;
    const ms = Date.now() - started;
    const access = response.status === 200 ? (decodeJwt(body.token).access as Grant[]) : undefined;
    return { status: response.status, headers: response.headers, body, access, ms };
  }

  async function post(
    form: Record<string, string>,
    on: TestForgegate = defaultTarget(),
  ): Promise<{ status: number; body: any }> {
    const response = await fetch(`${on.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ service, ...form }).toString(),
    });
    return { status: response.status, body: await response.json() };
  }

  return { token, post, sentBasic };
}
