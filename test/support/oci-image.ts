import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeTempDir } from './processes.js';

export interface OciImage {
  layoutDir: string;
  /** skopeo source reference, "oci:<layoutDir>:latest". */
  ref: string;
  /** Digest of the image manifest: what a registry reports after a push. */
  manifestDigest: string;
}

const BLOCK = 512;

/**
 * Writes a one-layer OCI image layout made of a single small file. The same
 * `marker` always gives the same digests; different markers give different ones.
 * Without `dir` the layout goes into a new temp dir, removed at exit at the latest.
 */
export async function buildOciImage(dir?: string, options: { marker?: string } = {}): Promise<OciImage> {
  const layoutDir = dir ?? (await makeTempDir('oci'));
  const blobsDir = join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const writeBlob = async (content: Buffer, mediaType: string) => {
    const hex = sha256(content);
    await writeFile(join(blobsDir, hex), content);
    return { mediaType, digest: `sha256:${hex}`, size: content.length };
  };

  const tar = tarWithOneFile('hello.txt', Buffer.from(`forgegate test image ${options.marker ?? ''}\n`));
  // mtime 0 in the gzip header keeps the layer digest reproducible.
  const layer = await writeBlob(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = await writeBlob(
    json({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
    }),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = await writeBlob(
    json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }),
    'application/vnd.oci.image.manifest.v1+json',
  );
  await writeFile(join(layoutDir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layoutDir, 'index.json'),
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  return { layoutDir, ref: `oci:${layoutDir}:latest`, manifestDigest: manifest.digest };
}

/** One image per name, marked `${prefix}-${name}`: each test pushes its own, so deleting one spares the rest. */
export async function buildOciImages<Name extends string>(
  names: readonly Name[],
  prefix: string,
): Promise<Record<Name, OciImage>> {
  const images = {} as Record<Name, OciImage>;
  for (const name of names) images[name] = await buildOciImage(undefined, { marker: `${prefix}-${name}` });
  return images;
}

/** A POSIX ustar archive holding one regular file, then the two zero blocks that end it. */
export function tarWithOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(BLOCK);
  const put = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0') + '\0';
  put(0, 100, name);
  put(100, 8, octal(0o644, 8));
  put(108, 8, octal(0, 8)); // uid
  put(116, 8, octal(0, 8)); // gid
  put(124, 12, octal(content.length, 12));
  put(136, 12, octal(0, 12)); // mtime
  put(148, 8, ' '.repeat(8)); // the checksum is computed with its own field as spaces
  put(156, 1, '0'); // regular file
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  put(148, 8, checksum.toString(8).padStart(6, '0') + '\0 ');
  const padding = Buffer.alloc((BLOCK - (content.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, content, padding, Buffer.alloc(2 * BLOCK)]);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
