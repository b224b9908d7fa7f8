// Reading forgegate's audit lines (ForgegateProcess.auditLines()) in client tests.

/** One JSON log line. */
export type AuditLine = Record<string, unknown>;

export const requested = (line: AuditLine): string[] => (line.requested ?? []) as string[];
export const granted = (line: AuditLine): string[] => (line.granted ?? []) as string[];
export const denied = (line: AuditLine): string[] => (line.denied ?? []) as string[];

/** Matches the token requests of a client by the start of its User-Agent (docker/, containerd/). */
export function fromClient(userAgentPrefix: string): (line: AuditLine) => boolean {
  return (line) => line.msg === 'token request' && String(line.userAgent).startsWith(userAgentPrefix);
}
