import {
  defaultOptionsHandler,
  GitbeakerRequestError,
  GitbeakerTimeoutError,
  type DefaultRequestOptions,
  type FormattedResponse,
  type RequesterType,
  type RequestOptions,
  type ResourceOptions,
  type ResponseBodyTypes,
} from '@gitbeaker/requester-utils';
import { send, succeeded, type HttpAnswer } from '../transport.js';

// How gitbeaker's resources reach GitLab, for forgegate: one attempt per call, over
// ../transport.ts. gitbeaker's own requester asks again on a 429 or a 502, ten times within
// about 250 ms, reading no Retry-After: against a GitLab that is limiting forgegate, every
// cold request made ten calls. A 429 or 502 is an outage to forgegate (a 503, or the stale
// answer), asked about again on a later request. It also throttles each client with in-memory
// limiters, and makes them and a closure per HTTP method for every client: forgegate makes a
// client per call (the token differs by call) and leaves rate limits to GitLab. Everything else
// is as gitbeaker does it: the same options (its `defaultOptionsHandler`), bodies and errors.

/** gitbeaker's `requesterFn`: a resource's requester, which asks once. */
export function requestOnce(resource: ResourceOptions): RequesterType {
  return new OnceRequester(resource);
}

class OnceRequester implements RequesterType {
  constructor(private readonly resource: ResourceOptions) {}

  get<T extends ResponseBodyTypes>(endpoint: string, options?: DefaultRequestOptions) {
    return this.ask<T>(endpoint, 'GET', options);
  }
  post<T extends ResponseBodyTypes>(endpoint: string, options?: DefaultRequestOptions) {
    return this.ask<T>(endpoint, 'POST', options);
  }
  put<T extends ResponseBodyTypes>(endpoint: string, options?: DefaultRequestOptions) {
    return this.ask<T>(endpoint, 'PUT', options);
  }
  patch<T extends ResponseBodyTypes>(endpoint: string, options?: DefaultRequestOptions) {
    return this.ask<T>(endpoint, 'PATCH', options);
  }
  delete<T extends ResponseBodyTypes>(endpoint: string, options?: DefaultRequestOptions) {
    return this.ask<T>(endpoint, 'DELETE', options);
  }

  private async ask<T extends ResponseBodyTypes>(endpoint: string, method: string, options?: DefaultRequestOptions) {
    const request = await defaultOptionsHandler(this.resource, { ...options, method });
    return (await askOnce(endpoint, request)) as FormattedResponse<T>;
  }
}

async function askOnce(endpoint: string, options: RequestOptions): Promise<FormattedResponse> {
  const { prefixUrl, searchParams, method = 'GET', headers, body, signal } = options;
  const url = new URL(endpoint, prefixUrl?.endsWith('/') ? prefixUrl : `${prefixUrl ?? ''}/`);
  url.search = searchParams ?? '';
  const answer = await send(url, { method, headers, body: body as string | undefined, signal }).catch(asGitbeaker);
  if (!succeeded(answer)) throw requestError(url, method, answer);
  return formatted(answer);
}

/** A call its signal ended is gitbeaker's timeout; any other failure stays as it is. */
function asGitbeaker(error: unknown): never {
  const name = (error as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError') throw new GitbeakerTimeoutError('Query timeout was reached');
  throw error;
}

function formatted(answer: HttpAnswer): FormattedResponse {
  const { status } = answer;
  const headers = flatHeaders(answer);
  if (status === 204) return { body: null, headers, status };
  const text = answer.body.toString('utf8');
  const type = (headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type === 'application/json')
    return { body: (JSON.parse(text) as FormattedResponse['body']) || {}, headers, status };
  return { body: text, headers, status };
}

function flatHeaders({ headers }: HttpAnswer): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name] = String(value);
  return flat;
}

/** GitLab's `error` or `message`, as gitbeaker reports a failed request. */
export function requestError(url: URL, method: string, answer: HttpAnswer): GitbeakerRequestError {
  const content = answer.body.toString('utf8');
  let description = content;
  if (String(answer.headers['content-type'] ?? '').includes('application/json')) {
    try {
      const output = JSON.parse(content) as { error?: unknown; message?: unknown } | null;
      const property = output?.error || output?.message || '';
      description = typeof property === 'string' ? property : JSON.stringify(property);
    } catch {
      description = content;
    }
  }
  const request = new Request(url, { method });
  const response = new Response(null, { status: answer.status, headers: flatHeaders(answer) });
  return new GitbeakerRequestError(description, { cause: { description, request, response } });
}
