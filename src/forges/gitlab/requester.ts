import {
  createRequesterFn,
  GitbeakerRequestError,
  GitbeakerTimeoutError,
  type FormattedResponse,
  type RequestHandlerFn,
  type RequestOptions,
} from '@gitbeaker/requester-utils';

// How gitbeaker's resources reach GitLab, for forgegate: one attempt per call. gitbeaker's own
// handler asks again on a 429 or a 502, ten times within about 250 ms, reading no Retry-After:
// against a GitLab that is limiting forgegate, every cold request made ten calls. A 429 or 502
// is an outage to forgegate (a 503, or the stale answer), asked about again on a later request.
// It also hands fetch the URL and the signal directly: a Request copied from another Request
// follows the signal through weak references, which a garbage collection can cut, and its call
// then ignored the timeout (forges/call.ts keeps a deadline of its own all the same).
// Everything else is as gitbeaker does it: the same options, bodies and errors.

const askOnce: RequestHandlerFn = async (endpoint, options) => {
  const { prefixUrl, searchParams, method, asStream, headers, body, signal } = (options ?? {}) as RequestOptions;
  const url = new URL(endpoint, prefixUrl?.endsWith('/') ? prefixUrl : `${prefixUrl ?? ''}/`);
  url.search = searchParams ?? '';
  const init: RequestInit = { method, ...(headers && { headers }), ...(body && { body }), ...(signal && { signal }) };
  const response = await fetch(url, init).catch((error: unknown) => {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new GitbeakerTimeoutError('Query timeout was reached');
    throw error;
  });
  if (!response.ok) throw await requestError(new Request(url, { method }), response);
  return formatted(response, asStream === true);
};

/** gitbeaker's requester, with `askOnce` in place of its own handler. */
export const requestOnce = createRequesterFn((_, requestOptions) => Promise.resolve(requestOptions), askOnce);

async function formatted(response: Response, asStream: boolean): Promise<FormattedResponse> {
  const headers = Object.fromEntries(response.headers.entries());
  const { status } = response;
  if (asStream) return { body: response.body as FormattedResponse['body'], headers, status };
  if (status === 204) return { body: null, headers, status };
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (type === 'application/json')
    return { body: ((await response.json()) as FormattedResponse['body']) || {}, headers, status };
  if (type.startsWith('text/')) return { body: (await response.text()) || '', headers, status };
  return { body: await response.blob(), headers, status };
}

/** GitLab's `error` or `message`, as gitbeaker reports a failed request. */
export async function requestError(request: Request, response: Response): Promise<GitbeakerRequestError> {
  const content = await response.text();
  let description = content;
  if (response.headers.get('content-type')?.includes('application/json')) {
    try {
      const output = JSON.parse(content) as { error?: unknown; message?: unknown } | null;
      const property = output?.error || output?.message || '';
      description = typeof property === 'string' ? property : JSON.stringify(property);
    } catch {
      description = content;
    }
  }
  return new GitbeakerRequestError(description, { cause: { description, request, response } });
}
