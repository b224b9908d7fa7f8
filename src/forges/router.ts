import type { PasswordCredential } from '../credentials/credential.js';
import type { Forge } from './forge.js';

// Which forge answers for an image, and which may see a credential. A credential is only
// ever sent to one forge: the one that recognises its shape, or the only one configured.

export class ForgeRouter {
  private readonly byPrefix: Forge[];

  constructor(readonly forges: readonly Forge[]) {
    // Longest prefix first, so "gh/" wins over the catch-all "".
    this.byPrefix = [...forges].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The forge for an image name and the path it knows the image by, or null. */
  forImage(name: string): { forge: Forge; path: string } | null {
    for (const forge of this.byPrefix) {
      if (name.startsWith(forge.prefix)) return { forge, path: name.slice(forge.prefix.length) };
    }
    return null;
  }

  /**
   * The forge that verifies a credential: the only forge, or the one that recognises it.
   * `imageForges` (the forges of the requested images) break a tie between unrecognised
   * credentials, so a token is never tried on a forge it was not meant for.
   */
  forCredential(credential: PasswordCredential, imageForges: readonly Forge[]): Forge | null {
    if (this.forges.length === 1) return this.forges[0]!;
    const recognised = this.forges.filter((forge) => forge.recognises(credential));
    if (recognised.length === 1) return recognised[0]!;
    const targets = [...new Set(imageForges)];
    return targets.length === 1 ? targets[0]! : null;
  }

  byName(name: string): Forge | undefined {
    return this.forges.find((forge) => forge.name === name);
  }
}
