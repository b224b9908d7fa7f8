import type { Config } from '../config/schema.js';
import type { Credential } from '../credentials/credential.js';
import { passwordCredential } from '../credentials/credential.js';
import { AuthenticationFailed } from '../errors.js';
import { silentLogger } from '../log.js';
import { formatScope, parseScopes } from '../policy/scope.js';
import { buildRuntime } from '../runtime.js';
import { CommandError, promptSecret, readStdinSecret, stdinIsTerminal } from './io.js';

// `forgegate explain`: the decision the token endpoint would make, with its reasons.
// It goes through the same Authority as the endpoint, so the two cannot disagree.

export async function explain(
  config: Config,
  user: string | undefined,
  scopeTexts: string[],
  json: boolean,
): Promise<void> {
  if (scopeTexts.length === 0)
    throw new CommandError('give at least one --scope, e.g. --scope repository:group/project:pull,push', 2);
  const scopes = parseScopes(scopeTexts);
  // Forge tokens need no username: a token piped without --user is still the caller's.
  // Only an interactive terminal with no --user means "explain for an anonymous caller".
  const secret = await readSecret(user);
  if (user !== undefined && secret === '') {
    throw new CommandError('no password or token on stdin (try: printf %s "$TOKEN" | forgegate explain ...)', 2);
  }
  const credential: Credential = secret === '' ? { kind: 'anonymous' } : passwordCredential(user ?? '', secret);
  const { authority } = await buildRuntime(config, silentLogger, 'ephemeral');

  let authentication;
  try {
    authentication = await authority.authenticate(credential, config.token.service, scopes);
  } catch (error) {
    if (!(error instanceof AuthenticationFailed)) throw error;
    if (json) process.stdout.write(JSON.stringify({ authenticated: false, reason: error.reason }, null, 2) + '\n');
    else process.stdout.write(`authentication failed: ${error.reason}\n`);
    throw new CommandError('', 1);
  }
  const decisions = await authority.decide(authentication, scopes);
  const { identity } = authentication;
  if (json) {
    process.stdout.write(JSON.stringify({ authenticated: true, identity, decisions }, null, 2) + '\n');
    return;
  }
  const who =
    identity.subject === ''
      ? 'anonymous'
      : identity.kind === 'static'
        ? `${identity.subject} (static account)`
        : `${identity.subject} (${identity.kind} via ${identity.source})`;
  const lines = [`caller: ${who}`];
  for (const decision of decisions) {
    lines.push(formatScope(decision.scope));
    for (const verdict of decision.verdicts) lines.push(`  ${verdict.reason}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function readSecret(user: string | undefined): Promise<string> {
  if (!stdinIsTerminal()) return readStdinSecret();
  if (user === undefined) {
    process.stderr.write('no --user: explaining for an anonymous caller\n');
    return Promise.resolve('');
  }
  return promptSecret(`Password or token for ${user}:`);
}
