// Writes src/events/generated/fast-codec.ts (run by scripts/gen-proto.mjs through tsx, after the descriptors).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { fastCodecSource } from './codegen/fast-codec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
writeFileSync(path.join(root, 'src/events/generated/fast-codec.ts'), fastCodecSource());
