// Builds the CLI that bin/devrec runs: one CommonJS bundle of the compiled sources (dist/src/cli/main.js and all it
// imports, commander included; addons and what is only required at run time stay in node_modules), then V8's code
// cache for it, made after running a few commands in this process so it holds the functions they compiled.
// Run by `npm run build` (and so by `prepare`, `npm test`, `npm run bench`) after tsc.
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { loadCli, bundle, cacheFile } = require(path.join(root, 'bin/devrec'));

await build({
  entryPoints: [path.join(root, 'dist/src/cli/main.js')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // native addons (and the dev-only lmdb) are loaded from node_modules as they are
  external: ['@kurrent/*', 'fs-native-extensions', 'lmdb'],
  // the sources are ES modules: import.meta.url is the bundle's own URL
  define: { 'import.meta.url': '__devrecBundleUrl' },
  banner: { js: "const __devrecBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: false,
  minify: true, // less to read and deserialize at start (about 15 ms here); keepNames keeps class and function names
  keepNames: true,
  charset: 'ascii', // bin/devrec reads it as latin1
  logLevel: 'warning',
});

// The code cache: compile without one, run commands a user starts with, keep what V8 compiled.
rmSync(cacheFile, { force: true });
const { cli, script } = loadCli({ useCache: false });
const work = mkdtempSync(path.join(tmpdir(), 'devrec-build-'));
const store = `file:${path.join(work, 'store')}`;
const trace = path.join(root, 'streams/qemu/pc-modern-net-blk/trace.log.gz');
const device = 'virtio-net-pci@00:02.0';
const runs = [
  ['--version'], ['--help'], ['import', 'qemu-trace', trace, '--store', store], ['devices', '--store', store],
  ['devices', '--store', store, '--json'], ['state', device, '--store', store], ['state', device, '--store', store, '--json'],
  ['log', device, '--store', store], ['inspect', path.join(root, 'streams/qemu/pc-modern-net-blk/devstate.bin.gz')],
];
const out = process.stdout.write;
const err = process.stderr.write;
try {
  for (const args of runs) {
    process.stdout.write = process.stderr.write = () => true;
    let code;
    try {
      code = await cli.main(['node', 'devrec', ...args]);
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    if (code !== 0) throw new Error(`build-cli: \`devrec ${args.join(' ')}\` exited ${code} while making the code cache`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
writeFileSync(cacheFile, script.createCachedData());
