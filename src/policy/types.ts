// The domain vocabulary shared by every layer. Kept free of I/O so that policy code
// stays pure and explain, logs and metrics read the same Decision.

/** Actions the registry understands. Anything else a client asks for is granted nothing. */
export type Action = 'pull' | 'push' | 'delete' | '*';

export const KNOWN_ACTIONS: readonly Action[] = ['pull', 'push', 'delete', '*'];

/** One resource a client asks about, after the union of repeated requests. */
export interface Scope {
  type: string; // "repository", "registry", ...
  class?: string; // from "repository(plugin)"
  name: string;
  actions: string[]; // as requested, deduplicated; may hold unknown actions
}

/** One entry of the JWT `access` claim. */
export interface Grant {
  type: string;
  class?: string;
  name: string;
  actions: Action[];
}

/** What kind of account vouched for the caller: "anonymous", "static", or a forge's kinds. */
export type IdentityKind = string;

/** A verified caller. `subject` becomes the JWT `sub` ("" for anonymous). */
export interface Identity {
  subject: string;
  kind: IdentityKind;
  /** "static" for htpasswd accounts, else the forge's configured name. */
  source: string;
}

export const ANONYMOUS: Identity = { subject: '', kind: 'anonymous', source: 'none' };

/** The verdict on one requested action, with the sentence that explains it. */
export interface Verdict {
  action: string;
  granted: boolean;
  /** The deciding rule's stable code, for metrics labels; `reason` is the sentence for people. */
  rule: string;
  reason: string;
}

/** Everything decided about one Scope: the single source for tokens, explain and logs. */
export interface Decision {
  scope: Scope;
  verdicts: Verdict[];
  /**
   * Set when a forge judged the scope as for a caller without credentials (it may have looked
   * with the service token): its reasons may tell what only the service token sees.
   */
  asAnonymous?: true;
}
